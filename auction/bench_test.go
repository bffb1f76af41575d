package auction

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// benchBidders is how many bidders hammer the one hot auction, as in the load targets.
const benchBidders = 200

// bidFunc places one bid and returns the minimum next bid it learned, accepted or not.
type bidFunc func(ctx context.Context, bidder UserRef, amount decimal.Decimal) (minNext decimal.Decimal, accepted bool, err error)

// runHotAuction has benchBidders goroutines each bid the newest minimum it knows, as fast as
// answers come, and reports processed and accepted bids per second.
func runHotAuction(b *testing.B, users []UserRef, bid bidFunc) {
	ctx := context.Background()
	var next, accepted atomic.Int64
	// RunParallel starts parallelism × GOMAXPROCS goroutines.
	b.SetParallelism(max(1, benchBidders/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		u := users[int(next.Add(1)-1)%len(users)]
		amount := money("10.00")
		for pb.Next() {
			minNext, ok, err := bid(ctx, u, amount)
			if err != nil {
				b.Error(err)
				return
			}
			if ok {
				accepted.Add(1)
			}
			amount = minNext
		}
	})
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/elapsed, "bids/s")
	b.ReportMetric(float64(accepted.Load())/elapsed, "accepted/s")
}

func setupHotAuction(b *testing.B, s *models.Store) ([]UserRef, int64) {
	seller := newTestUser(b, s, "seller")
	users := make([]UserRef, benchBidders)
	for i := range users {
		users[i] = newTestUser(b, s, fmt.Sprintf("b%03d", i))
	}
	id := newTestAuction(b, s, seller, func(a *models.Auction) { a.EndsAt = time.Now().Add(24 * time.Hour) })
	return users, id
}

// BenchmarkHotAuction compares the engine (one actor, group commit) with the naive design of
// one transaction per bid that locks the auction row with SELECT … FOR UPDATE. Run against
// PostgreSQL: TEST_DATABASE_URL=… go test -run XXX -bench HotAuction ./auction
func BenchmarkHotAuction(b *testing.B) {
	b.Run("engine", func(b *testing.B) {
		s := dbtest.Postgres(b)
		users, id := setupHotAuction(b, s)
		metrics := &countingMetrics{}
		e := startEngine(b, s, Options{Metrics: metrics})
		runHotAuction(b, users, func(ctx context.Context, u UserRef, amount decimal.Decimal) (decimal.Decimal, bool, error) {
			r, err := e.Bid(ctx, id, BidRequest{Bidder: u, Amount: amount})
			switch {
			case err == nil:
				return money(r.Auction().MinNextBid), true, nil
			case errors.Is(err, ErrBidTooLow):
				v, err := e.Get(ctx, id)
				return money(v.MinNextBid), false, err
			}
			return decimal.Decimal{}, false, err
		})
		b.ReportMetric(metrics.bidsPerCommit(), "bids/commit")
	})
	b.Run("naive", func(b *testing.B) {
		s := dbtest.Postgres(b)
		users, id := setupHotAuction(b, s)
		runHotAuction(b, users, func(ctx context.Context, u UserRef, amount decimal.Decimal) (decimal.Decimal, bool, error) {
			return naiveBid(ctx, s.DB(), id, u, amount)
		})
	})
}

// naiveBid is the baseline: lock the row, decide, insert, update, commit; one bid at a time.
func naiveBid(ctx context.Context, db *gorm.DB, id int64, u UserRef, amount decimal.Decimal) (decimal.Decimal, bool, error) {
	var minNext decimal.Decimal
	var accepted bool
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var row models.Auction
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&row, id).Error; err != nil {
			return err
		}
		st := stateFromRow(&row)
		now := time.Now().UTC()
		next, out, err := PlaceBid(st, BidInput{Bidder: u, Amount: amount}, now)
		if errors.Is(err, ErrBidTooLow) {
			minNext = st.MinNextBid()
			return nil
		}
		if err != nil {
			return err
		}
		bid := models.Bid{AuctionID: id, BidderID: u.ID, Amount: amount, MaxAmount: amount, Leading: out.Leading, Seq: next.Seq, CreatedAt: now.Truncate(time.Millisecond)}
		if err := tx.Create(&bid).Error; err != nil {
			return err
		}
		upd := rowFromState(&next, now)
		if err := tx.Model(&models.Auction{ID: id}).
			Select("status", "current_price", "high_bidder_id", "leader_max", "bid_count", "ends_at", "seq", "updated_at").
			Updates(upd).Error; err != nil {
			return err
		}
		minNext, accepted = next.MinNextBid(), true
		return nil
	})
	return minNext, accepted, err
}

// BenchmarkManyAuctions spreads benchBidders over many auctions, where one actor rarely has more
// than one bid per commit: the case that per-auction group commit alone does not help.
func BenchmarkManyAuctions(b *testing.B) {
	const auctions = 1000
	s := dbtest.Postgres(b)
	users, _ := setupHotAuction(b, s)
	seller := newTestUser(b, s, "seller2")
	ids := make([]int64, auctions)
	for i := range ids {
		ids[i] = newTestAuction(b, s, seller, func(a *models.Auction) { a.EndsAt = time.Now().Add(24 * time.Hour) })
	}
	metrics := &countingMetrics{}
	e := startEngine(b, s, Options{Metrics: metrics})
	var pick atomic.Int64
	minNext := make([]atomic.Pointer[decimal.Decimal], auctions)
	runHotAuction(b, users, func(ctx context.Context, u UserRef, _ decimal.Decimal) (decimal.Decimal, bool, error) {
		i := int(pick.Add(1)) % auctions
		amount := money("10.00")
		if p := minNext[i].Load(); p != nil {
			amount = *p
		}
		r, err := e.Bid(ctx, ids[i], BidRequest{Bidder: u, Amount: amount})
		switch {
		case err == nil:
			next := money(r.Auction().MinNextBid)
			minNext[i].Store(&next)
			return next, true, nil
		case errors.Is(err, ErrBidTooLow):
			return amount, false, nil
		}
		return decimal.Decimal{}, false, err
	})
	b.ReportMetric(metrics.bidsPerCommit(), "bids/commit")
}
