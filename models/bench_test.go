package models_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// BenchmarkCommitBatch measures the group-commit hot path: one batch of n bids plus the
// conditional auction update, per iteration.
func BenchmarkCommitBatch(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) *models.Store
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/bids=%d", db.name, n), func(b *testing.B) {
				s := db.open(b)
				seller, bidder := mustUser(b, s, "seller"), mustUser(b, s, "bidder")
				a := mustAuction(b, s, seller, nil)
				amount := dec(b, "10.00")
				ctx := context.Background()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					bids := make([]models.Bid, n)
					for j := range bids {
						bids[j] = models.Bid{BidderID: bidder.ID, Amount: amount, MaxAmount: amount, Leading: true,
							Seq: a.Seq + int64(j) + 1}
					}
					expected := a.Seq
					a.Seq += int64(n)
					a.BidCount += n
					if err := s.CommitBatch(ctx, a, expected, bids); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "bids/s")
			})
		}
	}
}

// BenchmarkCommitMany measures cross-auction group commit in the shape the ManyAuctions load
// gives it: one CommitMany of many auctions with a bid each, per iteration. On PostgreSQL this
// is where per-statement overhead in the server shows, so it is the number to compare when the
// statement changes.
func BenchmarkCommitMany(b *testing.B) {
	for _, db := range []struct {
		name string
		open func(testing.TB) *models.Store
	}{{"sqlite", dbtest.SQLite}, {"postgres", dbtest.Postgres}} {
		for _, n := range []int{150} {
			b.Run(fmt.Sprintf("%s/auctions=%d", db.name, n), func(b *testing.B) {
				s := db.open(b)
				seller, bidder := mustUser(b, s, "seller"), mustUser(b, s, "bidder")
				auctions := make([]*models.Auction, n)
				for i := range auctions {
					auctions[i] = mustAuction(b, s, seller, nil)
				}
				amount := dec(b, "10.00")
				ctx := context.Background()
				b.ResetTimer()
				for b.Loop() {
					commits := make([]models.Commit, n)
					for i, a := range auctions {
						expected := a.Seq
						a.Seq++
						a.BidCount++
						a.CurrentPrice = decimal.NewNullDecimal(amount)
						a.LeaderMax = decimal.NewNullDecimal(amount)
						a.HighBidderID = &bidder.ID
						commits[i] = models.Commit{Auction: a, ExpectedSeq: expected, Bids: []models.Bid{{
							BidderID: bidder.ID, Amount: amount, MaxAmount: amount, Leading: true, Seq: a.Seq}}}
					}
					for i, err := range s.CommitMany(ctx, commits) {
						if err != nil {
							b.Fatalf("auction %d: %v", commits[i].Auction.ID, err)
						}
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "bids/s")
			})
		}
	}
}
