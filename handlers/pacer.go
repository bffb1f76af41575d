package handlers

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// stateWakeLimit bounds the WebSocket writers that broadcasts have woken and that have not yet
// started on their state. Every goroutine that becomes runnable queues behind the runnable ones,
// and that includes the ones the network wakes: the reader of a bid, the committer reading
// PostgreSQL's answer, the writer of a bidder's reply. When one state woke all 10,000 writers of
// a watched auction at once, each of those hops waited for the whole broadcast, and a bidder's
// acknowledgement took 150 ms (BENCHMARKS.md, fanout). With at most this many woken at a time,
// they wait for a few dozen frame writes instead.
const stateWakeLimit = 64

// stateWakeStall is how long the pacer waits for room before it wakes the next writer anyway.
// Writers give their room back as soon as they run, so waiting this long means something is
// wrong; a broadcast must then go on rather than stall every watcher behind it.
const stateWakeStall = 50 * time.Millisecond

// statePacer wakes the writers of connections that have a new state, first come first served,
// at most stateWakeLimit at a time. The actor's broadcast only queues (enqueue never blocks);
// a goroutine of the pacer's own does the waking, and it runs only while the queue has work.
type statePacer struct {
	mu      sync.Mutex
	queue   []*paceEntry
	running bool

	// woken counts the writers woken for a state that have not yet run (ran).
	woken atomic.Int64
	// room holds a token when woken fell below the limit, for the pacer to wait on.
	room chan struct{}
	// inlineWorkers is how many goroutines share a long batch's inline writes: all processors
	// but one, which is left to the bids. With both of two cores writing, the fanout
	// scenario's bidder waited 44 ms for its acknowledgement instead of 14, and its watchers
	// got each state later, not sooner (BENCHMARKS.md).
	inlineWorkers int
}

func newStatePacer() *statePacer {
	return &statePacer{room: make(chan struct{}, 1), inlineWorkers: max(1, runtime.GOMAXPROCS(0)-1)}
}

// paceEntry is one connection's place in the statePacer.
type paceEntry struct {
	// queued: waiting for its turn.
	queued atomic.Bool
	// wake is called in its turn. It must not block; whoever it wakes calls ran once it runs
	// (or at once, if nothing will run).
	wake func()
	// inline, when set, is tried first in its turn: it does the work on the pacer's goroutine
	// and reports true, or reports false, and wake follows. It may write to a socket only
	// when the write cannot wait for the client.
	inline func() bool
}

// enqueue asks for e to be woken for a new state. A connection already waiting for its turn is
// not queued twice: its writer will send the newest state, whatever woke it.
func (p *statePacer) enqueue(e *paceEntry) {
	if !e.queued.CompareAndSwap(false, true) {
		return
	}
	p.mu.Lock()
	p.queue = append(p.queue, e)
	start := !p.running
	p.running = true
	p.mu.Unlock()
	if start {
		go p.run()
	}
}

// run wakes queued writers until the queue is empty.
func (p *statePacer) run() {
	stall := time.NewTimer(stateWakeStall)
	defer stall.Stop()
	var batch []*paceEntry
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		batch, p.queue = p.queue, batch[:0]
		p.mu.Unlock()
		p.serve(batch, stall)
		clear(batch)
	}
}

// inlineShard is the smallest share of a batch worth a goroutine of its own.
const inlineShard = 256

// serve gives each entry of batch its turn: the inline path first, shared among up to
// inlineWorkers goroutines for a long batch, then a wake-up for the entries it did not serve.
func (p *statePacer) serve(batch []*paceEntry, stall *time.Timer) {
	shards := min(p.inlineWorkers, len(batch)/inlineShard)
	var left []*paceEntry
	if shards > 1 {
		lefts := make([][]*paceEntry, shards)
		var wg sync.WaitGroup
		for i := range shards {
			part := batch[i*len(batch)/shards : (i+1)*len(batch)/shards]
			wg.Add(1)
			go func() {
				defer wg.Done()
				lefts[i] = serveInline(part)
			}()
		}
		wg.Wait()
		for _, l := range lefts {
			left = append(left, l...)
		}
	} else {
		left = serveInline(batch)
	}
	for _, e := range left {
		p.waitForRoom(stall)
		e.queued.Store(false)
		p.woken.Add(1)
		e.wake()
	}
}

// serveInline tries the inline path of each entry of part and returns, in part's own backing
// array, those that still need waking.
func serveInline(part []*paceEntry) []*paceEntry {
	left := part[:0]
	for _, e := range part {
		if e.inline != nil {
			// A state published from here on queues the entry again.
			e.queued.Store(false)
			if e.inline() {
				continue
			}
		}
		left = append(left, e)
	}
	return left
}

// waitForRoom returns once fewer than stateWakeLimit woken writers have yet to run, or after
// stateWakeStall.
func (p *statePacer) waitForRoom(stall *time.Timer) {
	if p.woken.Load() < stateWakeLimit {
		return
	}
	stall.Reset(stateWakeStall)
	for p.woken.Load() >= stateWakeLimit {
		select {
		case <-p.room:
		case <-stall.C:
			return
		}
	}
}

// ran gives back the room of one woken writer.
func (p *statePacer) ran() {
	if p.woken.Add(-1) < stateWakeLimit {
		select {
		case p.room <- struct{}{}:
		default:
		}
	}
}
