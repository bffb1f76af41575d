package models_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

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

// TestCommitManyRows writes one batch per case with a single CommitMany, so that every case goes
// through the combined statement next to the others, and checks every column CommitBatch writes
// (NULLs included, written over stored values) and every bid with its id.
func TestCommitManyRows(t *testing.T) {
	type commitCase struct {
		name string
		// prior, when set, is stored first with CommitBatch (seq 0 → 1), so that the case
		// overwrites stored values instead of the zero ones.
		prior       func(f *batchFixture, a *models.Auction)
		row         func(f *batchFixture, a *models.Auction)
		expectedSeq int64
		bids        func(t *testing.T, f *batchFixture) []models.Bid
		conflict    bool
	}
	noBids := func(*testing.T, *batchFixture) []models.Bid { return nil }
	setEverything := func(f *batchFixture, a *models.Auction) {
		a.CurrentPrice, a.LeaderMax = nullDec(t, "15.00"), nullDec(t, "30.00")
		a.HighBidderID, a.WinnerID = &f.b1.ID, &f.b1.ID
		a.ClosedReason, a.ClosedAt = ptr("cancelled"), ptr(base.Add(30*time.Minute))
		a.BidCount, a.Seq = 1, 1
	}
	cases := []commitCase{
		{name: "nullable columns written as NULL over stored values", prior: setEverything,
			row: func(f *batchFixture, a *models.Auction) {
				a.CurrentPrice, a.LeaderMax = decimal.NullDecimal{}, decimal.NullDecimal{}
				a.HighBidderID, a.WinnerID, a.ClosedReason, a.ClosedAt = nil, nil, nil, nil
				a.BidCount, a.Seq = 0, 2
			}, expectedSeq: 1, bids: noBids},
		{name: "open auction with a leader and two bids",
			row: func(f *batchFixture, a *models.Auction) {
				a.CurrentPrice, a.LeaderMax, a.HighBidderID = nullDec(t, "12.50"), nullDec(t, "20.00"), &f.b2.ID
				a.EndsAt = a.EndsAt.Add(1500 * time.Millisecond)
				a.BidCount, a.Seq = 2, 2
			},
			bids: func(t *testing.T, f *batchFixture) []models.Bid {
				first := f.bid(t, f.b1, "10.00", 1, "a")
				first.Leading = false
				second := f.bid(t, f.b2, "12.50", 2, "")
				second.MaxAmount = dec(t, "20.00")
				return []models.Bid{first, second}
			}},
		{name: "closed auction with winner and reason",
			row: func(f *batchFixture, a *models.Auction) {
				a.Status = models.StatusClosed
				a.CurrentPrice, a.LeaderMax, a.HighBidderID = nullDec(t, "11.00"), nullDec(t, "11.00"), &f.b1.ID
				a.WinnerID, a.ClosedReason, a.ClosedAt = &f.b1.ID, ptr("ended"), ptr(base.Add(time.Hour+250*time.Millisecond))
				a.BidCount, a.Seq = 1, 2
			},
			bids: func(t *testing.T, f *batchFixture) []models.Bid { return []models.Bid{f.bid(t, f.b1, "11.00", 1, "c")} }},
		{name: "money at full precision",
			row: func(f *batchFixture, a *models.Auction) {
				a.CurrentPrice, a.LeaderMax, a.HighBidderID = nullDec(t, "123456789012.34"), nullDec(t, "999999999999.99"), &f.b2.ID
				a.BidCount, a.Seq = 1, 1
			},
			bids: func(t *testing.T, f *batchFixture) []models.Bid {
				b := f.bid(t, f.b2, "123456789012.34", 1, "")
				b.MaxAmount = dec(t, "999999999999.99")
				return []models.Bid{b}
			}},
		{name: "no bids, auction update only",
			row: func(f *batchFixture, a *models.Auction) {
				a.EndsAt = a.EndsAt.Add(2 * time.Minute)
				a.Seq = 1
			}, bids: noBids},
		{name: "bids out of seq order each get the id of their own row",
			row: func(f *batchFixture, a *models.Auction) {
				a.CurrentPrice, a.LeaderMax, a.HighBidderID = nullDec(t, "11.00"), nullDec(t, "11.00"), &f.b1.ID
				a.BidCount, a.Seq = 2, 2
			},
			bids: func(t *testing.T, f *batchFixture) []models.Bid {
				return []models.Bid{f.bid(t, f.b1, "11.00", 2, "late"), f.bid(t, f.b2, "10.00", 1, "early")}
			}},
		{name: "stale seq with bids", expectedSeq: 3, conflict: true,
			row: func(f *batchFixture, a *models.Auction) { a.BidCount, a.Seq = 1, 4 },
			bids: func(t *testing.T, f *batchFixture) []models.Bid {
				return []models.Bid{f.bid(t, f.b1, "10.00", 4, "stale")}
			}},
		{name: "stale seq without bids", expectedSeq: 1, conflict: true,
			row: func(f *batchFixture, a *models.Auction) { a.Status, a.Seq = models.StatusCancelled, 2 }, bids: noBids},
		{name: "stale seq over stored values", prior: setEverything, expectedSeq: 0, conflict: true,
			row: func(f *batchFixture, a *models.Auction) {
				a.CurrentPrice, a.HighBidderID = decimal.NullDecimal{}, nil
				a.BidCount, a.Seq = 2, 2
			},
			bids: func(t *testing.T, f *batchFixture) []models.Bid {
				return []models.Bid{f.bid(t, f.b2, "16.00", 2, "")}
			}},
	}

	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f0 := newBatchFixture(t, s)
		fixtures := make([]*batchFixture, len(cases))
		commits := make([]models.Commit, len(cases))
		before := make([]models.Auction, len(cases))
		beforeBids := make([][]models.Bid, len(cases))
		for i, c := range cases {
			f := *f0
			f.a = mustAuction(t, s, f.seller, nil)
			fixtures[i] = &f
			if c.prior != nil {
				a := *f.a
				c.prior(&f, &a)
				if err := s.CommitBatch(ctx, &a, 0, []models.Bid{f.bid(t, f.b1, "15.00", 1, "prior")}); err != nil {
					t.Fatalf("%s: prior CommitBatch: %v", c.name, err)
				}
			}
			before[i], beforeBids[i] = f.snapshot(t)
			a := before[i]
			c.row(&f, &a)
			commits[i] = models.Commit{Auction: &a, ExpectedSeq: c.expectedSeq, Bids: c.bids(t, &f)}
		}

		errs := s.CommitMany(ctx, commits)
		var written []int64
		for i, c := range cases {
			if !c.conflict && c.prior == nil {
				written = append(written, commits[i].Auction.ID)
			}
		}
		checkOneCommit(t, s, written)

		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				after, stored := fixtures[i].snapshot(t)
				if c.conflict {
					if !errors.Is(errs[i], models.ErrConflict) {
						t.Fatalf("err = %v, want ErrConflict", errs[i])
					}
					checkAuctionRow(t, after, &before[i])
					checkStoredBids(t, stored, beforeBids[i])
					return
				}
				if errs[i] != nil {
					t.Fatalf("err = %v", errs[i])
				}
				checkAuctionRow(t, after, commits[i].Auction)
				checkStoredBids(t, stored, append(beforeBids[i], commits[i].Bids...))
			})
		}
	})
}

// TestCommitManyManyAuctions commits 300 auctions with one call, as a busy server does: 1–3 bids
// each, some without bids, some with a stale seq. Every stored bid must carry the id its batch
// was told, and the stale auctions must be untouched.
func TestCommitManyManyAuctions(t *testing.T) {
	const n = 300
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f0 := newBatchFixture(t, s)
		fixtures := make([]*batchFixture, n)
		commits := make([]models.Commit, n)
		stale := func(i int) bool { return i%10 == 3 }
		for i := range n {
			f := *f0
			f.a = mustAuction(t, s, f.seller, nil)
			fixtures[i] = &f
			nBids := i%3 + 1
			if i%11 == 0 {
				nBids = 0
			}
			bids := make([]models.Bid, nBids)
			for j := range bids {
				bidder := []*models.User{f.b1, f.b2}[j%2]
				requestID := ""
				if j%2 == 0 {
					requestID = fmt.Sprintf("r%d-%d", i, j)
				}
				bids[j] = f.bid(t, bidder, fmt.Sprintf("%d.%02d", 10+j, i%100), int64(j+1), requestID)
			}
			a := *f.a
			a.BidCount, a.Seq = nBids, int64(max(nBids, 1))
			if nBids > 0 {
				a.CurrentPrice, a.HighBidderID = decimal.NewNullDecimal(bids[nBids-1].Amount), &bids[nBids-1].BidderID
			}
			expected := int64(0)
			if stale(i) {
				expected = 5
			}
			commits[i] = models.Commit{Auction: &a, ExpectedSeq: expected, Bids: bids}
		}

		errs := s.CommitMany(ctx, commits)
		var written []int64
		for i, c := range commits {
			if !stale(i) {
				written = append(written, c.Auction.ID)
			}
		}
		checkOneCommit(t, s, written)

		seen := map[int64]bool{}
		for i, c := range commits {
			after, stored := fixtures[i].snapshot(t)
			if stale(i) {
				if !errors.Is(errs[i], models.ErrConflict) {
					t.Fatalf("auction %d (stale): err = %v, want ErrConflict", i, errs[i])
				}
				if after.Seq != 0 || after.BidCount != 0 || len(stored) != 0 {
					t.Fatalf("auction %d (stale): seq %d, count %d, %d bids stored", i, after.Seq, after.BidCount, len(stored))
				}
				continue
			}
			if errs[i] != nil {
				t.Fatalf("auction %d: %v", i, errs[i])
			}
			checkAuctionRow(t, after, c.Auction)
			checkStoredBids(t, stored, c.Bids)
			for _, b := range c.Bids {
				if seen[b.ID] {
					t.Fatalf("auction %d: bid id %d handed out twice", i, b.ID)
				}
				seen[b.ID] = true
			}
		}
	})
}

// TestCommitManySameAuctionTwice gives one call two batches of one auction, the second building
// on the first. It must end as if they had been committed one after the other.
func TestCommitManySameAuctionTwice(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		f := newBatchFixture(t, s)
		other := *f
		other.a = mustAuction(t, s, f.seller, nil)
		first, second, third := *f.a, *f.a, *other.a
		first.BidCount, first.Seq = 1, 1
		second.BidCount, second.Seq = 2, 2
		third.BidCount, third.Seq = 1, 1
		commits := []models.Commit{
			{Auction: &first, ExpectedSeq: 0, Bids: []models.Bid{f.bid(t, f.b1, "10.00", 1, "x")}},
			{Auction: &second, ExpectedSeq: 1, Bids: []models.Bid{f.bid(t, f.b2, "11.00", 2, "y")}},
			{Auction: &third, ExpectedSeq: 0, Bids: []models.Bid{other.bid(t, f.b1, "10.00", 1, "x")}},
		}
		for i, err := range s.CommitMany(ctx, commits) {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
		}
		a, stored := f.snapshot(t)
		checkAuctionRow(t, a, &second)
		checkStoredBids(t, stored, append(commits[0].Bids, commits[1].Bids...))
		a, stored = other.snapshot(t)
		checkAuctionRow(t, a, &third)
		checkStoredBids(t, stored, commits[2].Bids)
	})
}

// checkAuctionRow compares the columns CommitBatch writes.
func checkAuctionRow(t *testing.T, got models.Auction, want *models.Auction) {
	t.Helper()
	nullDecEq := func(x, y decimal.NullDecimal) bool {
		return x.Valid == y.Valid && (!x.Valid || x.Decimal.Equal(y.Decimal))
	}
	timeEq := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	if got.Status != want.Status || !nullDecEq(got.CurrentPrice, want.CurrentPrice) ||
		!eqPtr(got.HighBidderID, want.HighBidderID) || !nullDecEq(got.LeaderMax, want.LeaderMax) ||
		got.BidCount != want.BidCount || !got.EndsAt.Equal(want.EndsAt) || !eqPtr(got.WinnerID, want.WinnerID) ||
		!eqPtr(got.ClosedReason, want.ClosedReason) || !timeEq(got.ClosedAt, want.ClosedAt) || got.Seq != want.Seq ||
		!got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("auction %d stored as\n%s\nwant\n%s", want.ID, auctionColumns(&got), auctionColumns(want))
	}
}

func auctionColumns(a *models.Auction) string {
	show := func(p any) string {
		switch v := p.(type) {
		case *int64:
			if v != nil {
				return fmt.Sprint(*v)
			}
		case *string:
			if v != nil {
				return *v
			}
		case *time.Time:
			if v != nil {
				return v.String()
			}
		}
		return "NULL"
	}
	return fmt.Sprintf("status %s price %v high bidder %s leader max %v count %d ends %v winner %s reason %s closed %s seq %d updated %v",
		a.Status, a.CurrentPrice, show(a.HighBidderID), a.LeaderMax, a.BidCount, a.EndsAt, show(a.WinnerID),
		show(a.ClosedReason), show(a.ClosedAt), a.Seq, a.UpdatedAt)
}

func eqPtr[T comparable](x, y *T) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }

// checkStoredBids compares the stored bids of one auction (AllBids order: seq, id) with the bids
// of its batches, matched by seq, ids included.
func checkStoredBids(t *testing.T, got, want []models.Bid) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d bids stored, want %d", len(got), len(want))
	}
	bySeq := map[int64]models.Bid{}
	for _, w := range want {
		bySeq[w.Seq] = w
	}
	for _, g := range got {
		w, ok := bySeq[g.Seq]
		if !ok || g.ID == 0 || g.ID != w.ID || g.AuctionID != w.AuctionID || g.BidderID != w.BidderID ||
			!g.Amount.Equal(w.Amount) || !g.MaxAmount.Equal(w.MaxAmount) || g.Leading != w.Leading ||
			!g.CreatedAt.Equal(w.CreatedAt) || !eqPtr(g.RequestID, w.RequestID) {
			t.Errorf("bid stored as %+v, its batch has %+v", g, w)
		}
	}
}

// checkOneCommit fails the test unless the given auctions and all their bids were written by one
// transaction. CommitMany falls back to one CommitBatch per batch when its combined write fails,
// and that fallback stores the same rows, so only this tells that the combined write worked. On
// PostgreSQL a row's xmin is the transaction that wrote it; SQLite has nothing like it.
func checkOneCommit(t *testing.T, s *models.Store, auctionIDs []int64) {
	t.Helper()
	if s.Dialect() != models.DialectPostgres {
		return
	}
	var writers []string
	err := s.DB().Raw(`SELECT DISTINCT xmin::text FROM auctions WHERE id IN ?
		UNION SELECT DISTINCT xmin::text FROM bids WHERE auction_id IN ?`, auctionIDs, auctionIDs).Scan(&writers).Error
	if err != nil {
		t.Fatal(err)
	}
	if len(writers) != 1 {
		t.Fatalf("the auctions and bids were written by %d transactions, want 1: %v", len(writers), writers)
	}
}
