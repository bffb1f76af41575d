package models_test

import (
	"context"
	"fmt"
	"testing"

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
