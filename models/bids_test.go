package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

type batchFixture struct {
	s              *models.Store
	seller, b1, b2 *models.User
	a              *models.Auction
}

func newBatchFixture(t *testing.T, s *models.Store) *batchFixture {
	t.Helper()
	f := &batchFixture{s: s, seller: mustUser(t, s, "seller"), b1: mustUser(t, s, "b1"), b2: mustUser(t, s, "b2")}
	f.a = mustAuction(t, s, f.seller, nil)
	return f
}

// bid builds an unsaved bid of this fixture's auction.
func (f *batchFixture) bid(t *testing.T, bidder *models.User, amount string, seq int64, requestID string) models.Bid {
	b := models.Bid{BidderID: bidder.ID, Amount: dec(t, amount), MaxAmount: dec(t, amount), Seq: seq, Leading: true,
		CreatedAt: base.Add(time.Duration(seq) * 100 * time.Millisecond)}
	if requestID != "" {
		b.RequestID = ptr(requestID)
	}
	return b
}

// snapshot is what a failed CommitBatch must leave untouched.
func (f *batchFixture) snapshot(t *testing.T) (models.Auction, []models.Bid) {
	t.Helper()
	a, err := f.s.AuctionByID(context.Background(), f.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	bids, err := f.s.AllBids(context.Background(), f.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return *a, bids
}

func TestCommitBatchStoresBidsAndState(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f := newBatchFixture(t, s)
		bids := []models.Bid{
			f.bid(t, f.b1, "10.00", 1, "r1"),
			f.bid(t, f.b2, "10.50", 2, ""),
			f.bid(t, f.b1, "11.00", 3, ""),   // many NULL request ids from one bidder are fine
			f.bid(t, f.b2, "11.50", 4, "r1"), // same request id, other bidder: fine
		}
		bids[1].Leading = false
		bids[3].MaxAmount = dec(t, "20.00")
		a := *f.a
		a.CurrentPrice = nullDec(t, "11.50")
		a.LeaderMax = nullDec(t, "20.00")
		a.HighBidderID = &f.b2.ID
		a.BidCount = 4
		a.Seq = 4
		a.EndsAt = base.Add(time.Hour + 1500*time.Millisecond)
		if err := s.CommitBatch(ctx, &a, 0, bids); err != nil {
			t.Fatalf("CommitBatch: %v", err)
		}
		for i := range bids {
			if bids[i].ID == 0 || (i > 0 && bids[i].ID <= bids[i-1].ID) {
				t.Fatalf("ids not filled in increasing slice order: %d: %d", i, bids[i].ID)
			}
		}

		got, err := s.AllBids(ctx, f.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(bids) {
			t.Fatalf("%d bids stored, want %d", len(got), len(bids))
		}
		for i, g := range got {
			w := bids[i]
			if g.ID != w.ID || g.AuctionID != f.a.ID || g.BidderID != w.BidderID || !g.Amount.Equal(w.Amount) ||
				!g.MaxAmount.Equal(w.MaxAmount) || g.Leading != w.Leading || g.Seq != w.Seq || !g.CreatedAt.Equal(w.CreatedAt) ||
				(g.RequestID == nil) != (w.RequestID == nil) || (g.RequestID != nil && *g.RequestID != *w.RequestID) {
				t.Errorf("bid %d stored as %+v, want %+v", i, g, w)
			}
		}

		stored, err := s.AuctionByID(ctx, f.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Seq != 4 || stored.BidCount != 4 || stored.CurrentPrice.Decimal.StringFixed(2) != "11.50" ||
			stored.LeaderMax.Decimal.StringFixed(2) != "20.00" || stored.HighBidder == nil || stored.HighBidder.ID != f.b2.ID ||
			!stored.EndsAt.Equal(a.EndsAt) || !stored.UpdatedAt.Equal(a.UpdatedAt) || stored.Status != models.StatusOpen {
			t.Errorf("auction stored as %+v", stored)
		}

		// Newest first, with bidders, paged.
		page, err := s.BidsByAuction(ctx, f.a.ID, 2, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 2 || page[0].ID != bids[2].ID || page[1].ID != bids[1].ID ||
			page[0].Bidder.Username != "b1" || page[1].Bidder.Username != "b2" {
			t.Errorf("BidsByAuction(limit 2, offset 1) = %+v", page)
		}
		if all, err := s.BidsByAuction(ctx, f.a.ID, 0, 0); err != nil || len(all) != 4 || all[0].ID != bids[3].ID {
			t.Errorf("BidsByAuction(all) = %d bids, %v", len(all), err)
		}
		keys, err := s.RequestKeys(ctx, f.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantKeys := []models.RequestKey{{BidderID: bids[0].BidderID, RequestID: *bids[0].RequestID}, {BidderID: bids[3].BidderID, RequestID: "r1"}}
		if !slices.Equal(sortedKeys(keys), sortedKeys(wantKeys)) {
			t.Errorf("RequestKeys = %+v, want %+v", keys, wantKeys)
		}
		byReq, err := s.BidByRequest(ctx, f.a.ID, models.RequestKey{BidderID: bids[3].BidderID, RequestID: "r1"})
		if err != nil || byReq.ID != bids[3].ID || !byReq.Leading || !byReq.Amount.Equal(bids[3].Amount) {
			t.Errorf("BidByRequest(r1) = %+v, %v", byReq, err)
		}
		for _, k := range []models.RequestKey{{BidderID: bids[3].BidderID, RequestID: "nope"}, {BidderID: f.b1.ID + f.b2.ID + 1000, RequestID: "r1"}} {
			if _, err := s.BidByRequest(ctx, f.a.ID, k); !errors.Is(err, models.ErrNotFound) {
				t.Errorf("BidByRequest(%+v) error %v, want ErrNotFound", k, err)
			}
		}

		// Closing, with no bids in the batch.
		a.Status = models.StatusClosed
		a.WinnerID = &f.b2.ID
		a.ClosedReason = ptr("ended")
		a.ClosedAt = ptr(base.Add(2 * time.Hour))
		a.Seq = 5
		if err := s.CommitBatch(ctx, &a, 4, nil); err != nil {
			t.Fatalf("closing CommitBatch: %v", err)
		}
		stored, err = s.AuctionByID(ctx, f.a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Status != models.StatusClosed || stored.Winner == nil || stored.Winner.ID != f.b2.ID ||
			stored.ClosedReason == nil || *stored.ClosedReason != "ended" || stored.ClosedAt == nil ||
			!stored.ClosedAt.Equal(base.Add(2*time.Hour)) || stored.Seq != 5 || stored.BidCount != 4 {
			t.Errorf("closed auction stored as %+v", stored)
		}
	})
}

func TestCommitBatchConflicts(t *testing.T) {
	tests := []struct {
		name        string
		expectedSeq int64
		bids        func(f *batchFixture, t *testing.T) []models.Bid
	}{
		{"stale seq", 0, func(f *batchFixture, t *testing.T) []models.Bid {
			return []models.Bid{f.bid(t, f.b2, "20.00", 3, "fresh")}
		}},
		{"stale seq without bids", 1, func(f *batchFixture, t *testing.T) []models.Bid { return nil }},
		{"seq from the future", 7, func(f *batchFixture, t *testing.T) []models.Bid {
			return []models.Bid{f.bid(t, f.b2, "20.00", 8, "")}
		}},
		{"request id already stored", 2, func(f *batchFixture, t *testing.T) []models.Bid {
			return []models.Bid{f.bid(t, f.b2, "20.00", 3, "other"), f.bid(t, f.b1, "21.00", 4, "r1")}
		}},
		{"request id twice in the batch", 2, func(f *batchFixture, t *testing.T) []models.Bid {
			return []models.Bid{f.bid(t, f.b2, "20.00", 3, "dup"), f.bid(t, f.b2, "21.00", 4, "dup")}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, s *models.Store) {
				ctx := context.Background()
				f := newBatchFixture(t, s)
				// History: two committed batches, seq now 2, r1 used by b1.
				a := *f.a
				a.Seq = 1
				a.BidCount = 1
				if err := s.CommitBatch(ctx, &a, 0, []models.Bid{f.bid(t, f.b1, "10.00", 1, "r1")}); err != nil {
					t.Fatal(err)
				}
				a.Seq = 2
				a.BidCount = 2
				if err := s.CommitBatch(ctx, &a, 1, []models.Bid{f.bid(t, f.b2, "11.00", 2, "")}); err != nil {
					t.Fatal(err)
				}
				wantAuction, wantBids := f.snapshot(t)

				next := a
				next.Seq = 10
				next.BidCount = 10
				next.CurrentPrice = nullDec(t, "99.00")
				next.Status = models.StatusClosed
				bids := tt.bids(f, t)
				err := s.CommitBatch(ctx, &next, tt.expectedSeq, bids)
				if !errors.Is(err, models.ErrConflict) {
					t.Fatalf("CommitBatch = %v, want ErrConflict", err)
				}
				for i, b := range bids {
					if b.ID != 0 {
						t.Errorf("bid %d got id %d from a failed batch", i, b.ID)
					}
				}
				gotAuction, gotBids := f.snapshot(t)
				if gotAuction.Seq != wantAuction.Seq || gotAuction.BidCount != wantAuction.BidCount ||
					gotAuction.Status != wantAuction.Status || gotAuction.CurrentPrice.Valid != wantAuction.CurrentPrice.Valid ||
					!gotAuction.UpdatedAt.Equal(wantAuction.UpdatedAt) {
					t.Errorf("auction changed: %+v, was %+v", gotAuction, wantAuction)
				}
				if len(gotBids) != len(wantBids) {
					t.Errorf("%d bids after the conflict, want %d", len(gotBids), len(wantBids))
				}
			})
		})
	}
}

// TestCommitBatchRace runs writers that all believe the same seq; exactly one may win.
func TestCommitBatchRace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f := newBatchFixture(t, s)
		const writers = 8
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			wins      int
			conflicts int
		)
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := *f.a
				a.Seq = 1
				a.BidCount = 1
				err := s.CommitBatch(ctx, &a, 0, []models.Bid{f.bid(t, f.b1, "10.00", 1, fmt.Sprintf("w%d", i))})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, models.ErrConflict):
					conflicts++
				default:
					t.Errorf("writer %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != writers-1 {
			t.Errorf("%d wins and %d conflicts, want 1 and %d", wins, conflicts, writers-1)
		}
		if bids, err := s.AllBids(ctx, f.a.ID); err != nil || len(bids) != 1 {
			t.Errorf("%d bids stored (%v), want 1", len(bids), err)
		}
	})
}

// TestCommitBatchLarge crosses the SQLite per-statement chunk size.
func TestCommitBatchLarge(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		f := newBatchFixture(t, s)
		const n = 2500
		bids := make([]models.Bid, n)
		for i := range bids {
			bidder := f.b1
			if i%2 == 1 {
				bidder = f.b2
			}
			bids[i] = f.bid(t, bidder, "10.00", int64(i+1), fmt.Sprintf("r%d", i))
		}
		a := *f.a
		a.Seq = n
		a.BidCount = n
		if err := s.CommitBatch(context.Background(), &a, 0, bids); err != nil {
			t.Fatal(err)
		}
		stored, err := s.AllBids(context.Background(), f.a.ID)
		if err != nil || len(stored) != n {
			t.Fatalf("%d bids stored (%v), want %d", len(stored), err, n)
		}
		for i := range stored {
			if stored[i].ID != bids[i].ID || stored[i].Seq != int64(i+1) || *stored[i].RequestID != fmt.Sprintf("r%d", i) {
				t.Fatalf("bid %d: stored %+v, committed id %d", i, stored[i], bids[i].ID)
			}
		}
	})
}

func sortedKeys(k []models.RequestKey) []models.RequestKey {
	out := slices.Clone(k)
	slices.SortFunc(out, func(a, b models.RequestKey) int {
		if a.BidderID != b.BidderID {
			return int(a.BidderID - b.BidderID)
		}
		return strings.Compare(a.RequestID, b.RequestID)
	})
	return out
}
