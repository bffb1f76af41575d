package auction

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/models"
)

func money(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// clock is a settable server clock for tests that must place a command at an exact moment.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func newTestUser(t testing.TB, s *models.Store, name string) UserRef {
	t.Helper()
	u := &models.User{Username: name, PasswordHash: "not-a-real-hash"}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return UserRef{ID: u.ID, Name: u.Username}
}

// newTestAuction stores an open auction by seller starting at 10.00, ending in an hour; edit
// changes it before it is stored.
func newTestAuction(t testing.TB, s *models.Store, seller UserRef, edit func(*models.Auction)) int64 {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := &models.Auction{
		SellerID:         seller.ID,
		Title:            "a lamp",
		Currency:         "USD",
		StartingPrice:    money("10.00"),
		StartsAt:         now.Add(-time.Minute),
		EndsAt:           now.Add(time.Hour),
		ExtensionSeconds: 0,
		Status:           models.StatusOpen,
	}
	if edit != nil {
		edit(a)
	}
	a.OriginalEndsAt = a.EndsAt
	if err := s.CreateAuction(context.Background(), a); err != nil {
		t.Fatalf("create auction: %v", err)
	}
	return a.ID
}

// startEngine starts an engine on s that is shut down when the test ends.
func startEngine(t testing.TB, s *models.Store, opts Options) *Engine {
	t.Helper()
	e := New(s, opts)
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}

// replay runs the stored bids of an auction through the rules, in the order they were decided,
// and returns the state they give. Stored bids hold what the rules need: bidder, amount,
// maximum and the moment of acceptance.
func replay(t testing.TB, s *models.Store, auctionID int64) (State, []models.Bid) {
	t.Helper()
	ctx := context.Background()
	row, err := s.AuctionByID(ctx, auctionID)
	if err != nil {
		t.Fatal(err)
	}
	st := stateFromRow(row)
	st.Status = StatusOpen
	st.CurrentPrice = decimal.NullDecimal{}
	st.Leader, st.LeaderMax, st.BidCount, st.Winner = UserRef{}, decimal.Decimal{}, 0, UserRef{}
	st.EndsAt = st.OriginalEndsAt
	st.ClosedReason, st.ClosedAt = "", time.Time{}
	bids, err := s.AllBids(ctx, auctionID)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bids {
		in := BidInput{Bidder: UserRef{ID: b.BidderID}, Amount: b.Amount, MaxAmount: b.MaxAmount}
		next, out, err := PlaceBid(st, in, b.CreatedAt)
		if err != nil {
			t.Fatalf("stored bid %d (#%d, %s max %s by %d at %s) is refused by the rules: %v",
				b.ID, i, b.Amount, b.MaxAmount, b.BidderID, FormatTime(b.CreatedAt), err)
		}
		if out.Leading != b.Leading {
			t.Fatalf("stored bid %d says leading=%v, the rules say %v", b.ID, b.Leading, out.Leading)
		}
		st = next
	}
	return st, bids
}

// assertRowMatchesReplay checks the invariant that the stored auction row equals what the rules
// give for its stored bids.
func assertRowMatchesReplay(t testing.TB, s *models.Store, auctionID int64) (State, []models.Bid) {
	t.Helper()
	want, bids := replay(t, s, auctionID)
	row, err := s.AuctionByID(context.Background(), auctionID)
	if err != nil {
		t.Fatal(err)
	}
	got := stateFromRow(row)
	if got.BidCount != want.BidCount || got.Leader.ID != want.Leader.ID ||
		!got.LeaderMax.Equal(want.LeaderMax) || got.CurrentPrice.Valid != want.CurrentPrice.Valid ||
		!got.CurrentPrice.Decimal.Equal(want.CurrentPrice.Decimal) {
		t.Fatalf("stored row: price %v leader %d max %s count %d; replay of %d stored bids: price %v leader %d max %s count %d",
			got.CurrentPrice, got.Leader.ID, got.LeaderMax, got.BidCount, len(bids),
			want.CurrentPrice, want.Leader.ID, want.LeaderMax, want.BidCount)
	}
	if !got.EndsAt.Equal(want.EndsAt) {
		t.Fatalf("stored ends_at %s, replay gives %s", FormatTime(got.EndsAt), FormatTime(want.EndsAt))
	}
	return got, bids
}

func decimalNull(s string) decimal.NullDecimal { return decimal.NewNullDecimal(money(s)) }

// countingMetrics counts commits and committed bids, to see group commit at work.
type countingMetrics struct {
	noMetrics
	commits, bids, dropped, refused atomic.Int64
}

func (m *countingMetrics) WatcherDropped() { m.dropped.Add(1) }

func (m *countingMetrics) BidDecided(code Code) {
	if code != "" {
		m.refused.Add(1)
	}
}

func (m *countingMetrics) BatchCommitted(n int, _ time.Duration) {
	m.commits.Add(1)
	m.bids.Add(int64(n))
}

func (m *countingMetrics) bidsPerCommit() float64 {
	return float64(m.bids.Load()) / float64(max(m.commits.Load(), 1))
}
