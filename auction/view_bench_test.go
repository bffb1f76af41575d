package auction

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// benchState is an open auction in the middle of its bidding, as the many scenario's are.
func benchState() State {
	now := time.Now()
	return State{
		ID: 7, Seller: UserRef{ID: 3, Name: "seller"}, Title: "A fine old clock", Description: "Walnut case, keeps time.",
		Currency: "USD", Status: StatusOpen, StartingPrice: decimal.RequireFromString("10.00"),
		StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), OriginalEndsAt: now.Add(time.Hour),
		ExtensionSeconds: 120, CurrentPrice: decimal.NewNullDecimal(decimal.RequireFromString("1234.50")),
		Leader: UserRef{ID: 42, Name: "bidder042"}, LeaderMax: decimal.RequireFromString("1234.50"),
		BidCount: 1234, Seq: 2500, Watchers: 2,
	}
}

// BenchmarkNewUpdate is the encoding that every committed state of a watched auction pays once.
func BenchmarkNewUpdate(b *testing.B) {
	s := benchState()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.Seq++
		_ = newUpdate(&s, now)
	}
}

// BenchmarkNewView is the view that each commit's replies carry.
func BenchmarkNewView(b *testing.B) {
	s := benchState()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		_ = NewView(&s, now)
	}
}
