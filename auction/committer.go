package auction

import (
	"context"
	"time"

	"auctionhouse/models"
)

// maxAuctionsPerCommit bounds how many actors' batches share one database commit.
const maxAuctionsPerCommit = 256

// commitJob is one actor's batch waiting for a committer.
type commitJob struct {
	commit models.Commit
	batch  *batch
	done   chan<- commitResult
}

// runCommitter stores actors' batches: it takes one, gathers every other batch already waiting,
// and writes them all with one CommitMany. One auction's group commit batches its own bids;
// this batches across auctions, so a thousand quiet auctions do not pay a thousand fsyncs.
// A few committers run at once, so a slow round trip does not stall the others.
func (e *Engine) runCommitter() {
	defer e.committers.Done()
	for {
		var first commitJob
		select {
		case first = <-e.commits:
		case <-e.stopCommitters:
			return
		}
		jobs := e.gatherJobs(first)
		commits := make([]models.Commit, len(jobs))
		for i, j := range jobs {
			commits[i] = j.commit
		}
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.CommitTimeout)
		start := time.Now()
		errs := e.store.CommitMany(ctx, commits)
		took := time.Since(start)
		cancel()
		for i, j := range jobs {
			j.done <- commitResult{batch: j.batch, err: errs[i], took: took}
		}
	}
}

func (e *Engine) gatherJobs(first commitJob) []commitJob {
	jobs := []commitJob{first}
	for len(jobs) < maxAuctionsPerCommit {
		select {
		case j := <-e.commits:
			jobs = append(jobs, j)
		default:
			return jobs
		}
	}
	return jobs
}
