package models_test

import (
	"context"
	"errors"
	"testing"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// TestCommitMany stores four auctions' batches with one commit: two good ones, one whose seq is
// stale and one that repeats a stored request id. The good ones must be stored in full, the bad
// ones must change nothing.
func TestCommitMany(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		fixtures := []*batchFixture{newBatchFixture(t, s)}
		for range 3 {
			f := *fixtures[0]
			f.a = mustAuction(t, s, f.seller, nil)
			fixtures = append(fixtures, &f)
		}
		good1, good2, stale, dup := fixtures[0], fixtures[1], fixtures[2], fixtures[3]
		// dup already holds request id "r1" of b1.
		first := []models.Bid{dup.bid(t, dup.b1, "10.00", 1, "r1")}
		if err := s.CommitBatch(ctx, &models.Auction{ID: dup.a.ID, Status: models.StatusOpen, BidCount: 1, Seq: 1, EndsAt: dup.a.EndsAt}, 0, first); err != nil {
			t.Fatal(err)
		}
		staleBefore, _ := stale.snapshot(t)
		dupBefore, dupBidsBefore := dup.snapshot(t)

		row := func(f *batchFixture, count int, seq int64) *models.Auction {
			return &models.Auction{ID: f.a.ID, Status: models.StatusOpen, BidCount: count, Seq: seq, EndsAt: f.a.EndsAt,
				CurrentPrice: nullDec(t, "12.00"), HighBidderID: &f.b2.ID, LeaderMax: nullDec(t, "12.00")}
		}
		commits := []models.Commit{
			{Auction: row(good1, 2, 2), ExpectedSeq: 0, Bids: []models.Bid{good1.bid(t, good1.b1, "10.00", 1, "a"), good1.bid(t, good1.b2, "12.00", 2, "")}},
			{Auction: row(stale, 1, 8), ExpectedSeq: 7, Bids: []models.Bid{stale.bid(t, stale.b1, "10.00", 8, "")}},
			{Auction: row(dup, 2, 2), ExpectedSeq: 1, Bids: []models.Bid{dup.bid(t, dup.b1, "12.00", 2, "r1")}},
			{Auction: row(good2, 1, 1), ExpectedSeq: 0, Bids: []models.Bid{good2.bid(t, good2.b2, "12.00", 1, "b")}},
		}
		errs := s.CommitMany(ctx, commits)
		for i, want := range []error{nil, models.ErrConflict, models.ErrConflict, nil} {
			if (want == nil) != (errs[i] == nil) || (want != nil && !errors.Is(errs[i], want)) {
				t.Fatalf("batch %d: err = %v, want %v", i, errs[i], want)
			}
		}
		for _, c := range []struct {
			f     *batchFixture
			bids  []models.Bid
			count int
		}{{good1, commits[0].Bids, 2}, {good2, commits[3].Bids, 1}} {
			a, stored := c.f.snapshot(t)
			if a.BidCount != c.count || !a.CurrentPrice.Decimal.Equal(dec(t, "12.00")) || len(stored) != c.count {
				t.Fatalf("auction %d: count %d price %v, %d bids stored", a.ID, a.BidCount, a.CurrentPrice, len(stored))
			}
			for i, b := range stored {
				if b.ID != c.bids[i].ID || b.ID == 0 {
					t.Fatalf("auction %d: stored bid %d has id %d, the batch was told %d", a.ID, i, b.ID, c.bids[i].ID)
				}
			}
		}
		if after, _ := stale.snapshot(t); after.Seq != staleBefore.Seq || after.BidCount != staleBefore.BidCount {
			t.Fatalf("a stale batch changed its auction: %+v", after)
		}
		dupAfter, dupBidsAfter := dup.snapshot(t)
		if dupAfter.Seq != dupBefore.Seq || len(dupBidsAfter) != len(dupBidsBefore) {
			t.Fatalf("a batch repeating a request id changed its auction: seq %d→%d, bids %d→%d",
				dupBefore.Seq, dupAfter.Seq, len(dupBidsBefore), len(dupBidsAfter))
		}
	})
}
