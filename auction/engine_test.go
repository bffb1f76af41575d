package auction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

func TestEngineBidFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann, bob := newTestUser(t, s, "seller"), newTestUser(t, s, "ann"), newTestUser(t, s, "bob")
		id := newTestAuction(t, s, seller, func(a *models.Auction) {
			a.ReservePrice = decimalNull("50.00")
		})
		e := startEngine(t, s, Options{})

		r, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("10"), MaxAmount: money("40"), RequestID: "a1"})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Leading || r.Bid.ID == 0 || r.Auction().CurrentPrice == nil || *r.Auction().CurrentPrice != "10.00" {
			t.Fatalf("first bid: %+v", r)
		}
		if r.Auction().ReserveMet == nil || *r.Auction().ReserveMet {
			t.Fatalf("reserve must be reported unmet: %+v", r.Auction().ReserveMet)
		}
		r, err = e.Bid(ctx, id, BidRequest{Bidder: bob, Amount: money("20")})
		if err != nil {
			t.Fatal(err)
		}
		// bob's 20 is below ann's 40: ann stays, price min(40, 20+0.50).
		if r.Leading || *r.Auction().CurrentPrice != "20.50" || r.Auction().HighBidder.ID != ann.ID {
			t.Fatalf("second bid: leading=%v %+v", r.Leading, r.Auction())
		}
		r, err = e.Bid(ctx, id, BidRequest{Bidder: bob, Amount: money("41"), MaxAmount: money("60")})
		if err != nil {
			t.Fatal(err)
		}
		// bob takes the lead and his max reaches the reserve: price jumps to 50.
		if !r.Leading || *r.Auction().CurrentPrice != "50.00" || !*r.Auction().ReserveMet || r.Auction().BidCount != 3 {
			t.Fatalf("third bid: leading=%v %+v", r.Leading, r.Auction())
		}
		_, err = e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("50.50")})
		if !errors.Is(err, ErrBidTooLow) {
			t.Fatalf("bid below minimum: err = %v, want bid_too_low", err)
		}
		_, err = e.Bid(ctx, id, BidRequest{Bidder: seller, Amount: money("500")})
		if !errors.Is(err, ErrOwnAuction) {
			t.Fatalf("seller bid: err = %v, want own_auction", err)
		}
		_, err = e.Bid(ctx, 999999, BidRequest{Bidder: ann, Amount: money("5")})
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown auction: err = %v, want not_found", err)
		}
		st, bids := assertRowMatchesReplay(t, s, id)
		if len(bids) != 3 || st.Seq < 3 {
			t.Fatalf("stored %d bids, seq %d", len(bids), st.Seq)
		}
		v, err := e.Get(ctx, id)
		if err != nil || v.Seq != st.Seq || *v.CurrentPrice != "50.00" {
			t.Fatalf("get: %+v %v (stored seq %d)", v, err, st.Seq)
		}
	})
}

func TestEngineIdempotentRequestIDs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann, bob := newTestUser(t, s, "seller"), newTestUser(t, s, "ann"), newTestUser(t, s, "bob")
		id := newTestAuction(t, s, seller, nil)
		e := startEngine(t, s, Options{})

		first, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("10"), RequestID: "r1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Bid(ctx, id, BidRequest{Bidder: bob, Amount: money("12"), RequestID: "r1"}); err != nil {
			t.Fatalf("the same request id from another bidder is another request: %v", err)
		}
		again, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("99"), RequestID: "r1"})
		if err != nil {
			t.Fatal(err)
		}
		if again.Bid.ID != first.Bid.ID || again.Leading != first.Leading || !again.Bid.Amount.Equal(money("10")) {
			t.Fatalf("repeat answered %+v, first was %+v", again, first)
		}
		if again.Auction().BidCount != 2 || again.Auction().HighBidder.ID != bob.ID {
			t.Fatalf("repeat must carry the current state: %+v", again.Auction())
		}
		// A rejected request is not stored: the same id is decided afresh.
		if _, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("1"), RequestID: "r2"}); !errors.Is(err, ErrBidTooLow) {
			t.Fatalf("low bid: %v", err)
		}
		ok, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("30"), RequestID: "r2"})
		if err != nil || !ok.Leading {
			t.Fatalf("retried rejected request: %+v %v", ok, err)
		}
		// After a restart the stored request log answers the same way.
		if err := e.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		e2 := startEngine(t, s, Options{})
		afterRestart, err := e2.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("77"), RequestID: "r1"})
		if err != nil {
			t.Fatal(err)
		}
		if afterRestart.Bid.ID != first.Bid.ID || afterRestart.Leading != first.Leading || !afterRestart.Bid.CreatedAt.Equal(first.Bid.CreatedAt) {
			t.Fatalf("after restart %+v, first %+v", afterRestart.Bid, first.Bid)
		}
		if _, bids := assertRowMatchesReplay(t, s, id); len(bids) != 3 {
			t.Fatalf("stored %d bids, want 3", len(bids))
		}
	})
}

// TestEngineConcurrentBidders is the engine's main promise: hundreds of bidders at once on one
// auction that closes while they bid. The database must hold exactly the acknowledged bids, the
// stored row must equal the rules applied to them, and nothing may be accepted after the close.
func TestEngineConcurrentBidders(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		const bidders = 300
		seller := newTestUser(t, s, "seller")
		users := make([]UserRef, bidders)
		for i := range users {
			users[i] = newTestUser(t, s, fmt.Sprintf("bidder%03d", i))
		}
		endsAt := time.Now().UTC().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
		id := newTestAuction(t, s, seller, func(a *models.Auction) {
			a.EndsAt = endsAt
			a.ReservePrice = decimalNull("60.00")
		})
		metrics := &countingMetrics{}
		e := startEngine(t, s, Options{Metrics: metrics})

		var (
			mu    sync.Mutex
			acked = map[int64]BidResult{}
			wg    sync.WaitGroup
		)
		stop := time.Now().Add(2500 * time.Millisecond)
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(i), 7))
				minNext := money("10.00")
				for n := 0; time.Now().Before(stop); n++ {
					amount := minNext.Add(money(fmt.Sprintf("%d.%02d", rng.IntN(3), rng.IntN(100))))
					req := BidRequest{Bidder: u, Amount: amount, RequestID: fmt.Sprintf("%d-%d", i, n)}
					if rng.IntN(3) == 0 {
						req.MaxAmount = amount.Add(money(fmt.Sprintf("%d", rng.IntN(20))))
					}
					r, err := e.Bid(ctx, id, req)
					switch {
					case err == nil:
						mu.Lock()
						acked[r.Bid.ID] = r
						mu.Unlock()
						minNext = money(r.Auction().MinNextBid)
					case errors.Is(err, ErrBidTooLow):
						v, gerr := e.Get(ctx, id)
						if gerr != nil {
							t.Errorf("get: %v", gerr)
							return
						}
						minNext = money(v.MinNextBid)
					case errors.Is(err, ErrAuctionClosed):
						return
					default:
						t.Errorf("bid: unexpected error %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()

		// A refusal is answered at once, so the closing may still be on its way to the
		// database; a read through the engine waits for it, as a client's would.
		if v, err := e.Get(ctx, id); err != nil || v.Status != StatusClosed {
			t.Fatalf("after the end: status %s (%v)", v.Status, err)
		}
		row, err := s.AuctionByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if row.Status != models.StatusClosed || row.ClosedReason == nil || *row.ClosedReason != ReasonEnded {
			t.Fatalf("auction not closed by its end: status %s", row.Status)
		}
		st, stored := assertRowMatchesReplay(t, s, id)
		if len(stored) != len(acked) {
			t.Fatalf("database holds %d bids, %d were acknowledged", len(stored), len(acked))
		}
		for _, b := range stored {
			r, ok := acked[b.ID]
			if !ok {
				t.Fatalf("stored bid %d was never acknowledged", b.ID)
			}
			if !r.Bid.Amount.Equal(b.Amount) || !r.Bid.CreatedAt.Equal(b.CreatedAt) {
				t.Fatalf("bid %d acknowledged as %+v, stored as %s at %s", b.ID, r.Bid, b.Amount, FormatTime(b.CreatedAt))
			}
			if !b.CreatedAt.Before(st.EndsAt) {
				t.Fatalf("bid %d accepted at %s, at or after the end %s", b.ID, FormatTime(b.CreatedAt), FormatTime(st.EndsAt))
			}
		}
		wantWinner := int64(0)
		if st.reserveMetOrAbsent() {
			wantWinner = st.Leader.ID
		}
		if gotWinner := ptrValue(row.WinnerID); gotWinner != wantWinner {
			t.Fatalf("winner %d, the rules give %d", gotWinner, wantWinner)
		}
		if len(stored) < 50 {
			t.Fatalf("only %d bids accepted: the test did not exercise concurrency", len(stored))
		}
		if metrics.bids.Load() != int64(len(stored)) {
			t.Fatalf("metrics counted %d committed bids, %d are stored", metrics.bids.Load(), len(stored))
		}
		t.Logf("%d bids accepted in %d commits (%.1f bids per commit)", metrics.bids.Load(), metrics.commits.Load(), metrics.bidsPerCommit())
	})
}

// TestEngineRestart stops an engine in the middle of bidding and starts another on the same
// database: every acknowledged bid is there, the open auction goes on, and one that ended while
// no engine ran is closed with the right winner.
func TestEngineRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := newTestUser(t, s, "seller")
		users := []UserRef{newTestUser(t, s, "u1"), newTestUser(t, s, "u2"), newTestUser(t, s, "u3"), newTestUser(t, s, "u4")}
		longID := newTestAuction(t, s, seller, nil)
		endsSoon := time.Now().UTC().Add(800 * time.Millisecond).Truncate(time.Millisecond)
		shortID := newTestAuction(t, s, seller, func(a *models.Auction) { a.EndsAt = endsSoon })

		e1 := New(s, Options{})
		if err := e1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		acked := map[int64]bool{}
		var wg sync.WaitGroup
		stopBidding := make(chan struct{})
		for i, u := range users {
			for _, id := range []int64{longID, shortID} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					amount := money("10").Add(money(fmt.Sprint(i)))
					for {
						select {
						case <-stopBidding:
							return
						default:
						}
						r, err := e1.Bid(ctx, id, BidRequest{Bidder: u, Amount: amount})
						if err == nil {
							mu.Lock()
							acked[r.Bid.ID] = true
							mu.Unlock()
							amount = money(r.Auction().MinNextBid)
						} else if errors.Is(err, ErrBidTooLow) {
							amount = amount.Add(money("3"))
						} else if errors.Is(err, ErrUnavailable) {
							return
						} else {
							t.Errorf("bid: %v", err)
							return
						}
					}
				}()
			}
		}
		time.Sleep(300 * time.Millisecond)
		if err := e1.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		close(stopBidding)
		wg.Wait()
		if _, err := e1.Get(ctx, longID); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("a stopped engine must refuse commands at once, got %v", err)
		}
		time.Sleep(time.Until(endsSoon) + 50*time.Millisecond)

		e2 := startEngine(t, s, Options{})
		shortRow, err := s.AuctionByID(ctx, shortID)
		if err != nil {
			t.Fatal(err)
		}
		if shortRow.Status != models.StatusClosed {
			t.Fatalf("auction that ended while down: status %s after Start", shortRow.Status)
		}
		shortState, shortBids := assertRowMatchesReplay(t, s, shortID)
		if ptrValue(shortRow.WinnerID) != shortState.Leader.ID || shortState.Leader.IsZero() {
			t.Fatalf("winner %d, leader %d", ptrValue(shortRow.WinnerID), shortState.Leader.ID)
		}
		_, longBids := assertRowMatchesReplay(t, s, longID)
		stored := len(shortBids) + len(longBids)
		if stored != len(acked) {
			t.Fatalf("%d bids stored, %d acknowledged", stored, len(acked))
		}
		for _, b := range append(shortBids, longBids...) {
			if !acked[b.ID] {
				t.Fatalf("bid %d stored but never acknowledged", b.ID)
			}
		}
		v, err := e2.Get(ctx, longID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e2.Bid(ctx, longID, BidRequest{Bidder: users[0], Amount: money(v.MinNextBid).Add(money("100"))}); err != nil {
			t.Fatalf("bidding must resume after a restart: %v", err)
		}
		if _, err := e2.Bid(ctx, shortID, BidRequest{Bidder: users[0], Amount: money("1000")}); !errors.Is(err, ErrAuctionClosed) {
			t.Fatalf("bid on the ended auction: %v", err)
		}
	})
}

func TestEngineClosesAtEndBeforeTimerFires(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann, bob := newTestUser(t, s, "seller"), newTestUser(t, s, "ann"), newTestUser(t, s, "bob")
		start := time.Now().UTC().Truncate(time.Millisecond)
		id := newTestAuction(t, s, seller, func(a *models.Auction) { a.EndsAt = start.Add(time.Hour) })
		clk := &clock{t: start}
		e := startEngine(t, s, Options{Now: clk.Now, SweepInterval: time.Hour})
		if _, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("10")}); err != nil {
			t.Fatal(err)
		}
		// The clock jumps past the end; the actor's real timer is an hour away.
		clk.Set(start.Add(time.Hour))
		if _, err := e.Bid(ctx, id, BidRequest{Bidder: bob, Amount: money("20")}); !errors.Is(err, ErrAuctionClosed) {
			t.Fatalf("bid at ends_at: %v, want auction_closed", err)
		}
		v, err := e.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != StatusClosed || v.Winner == nil || v.Winner.ID != ann.ID || *v.ClosedReason != ReasonEnded {
			t.Fatalf("after the end: %+v", v)
		}
		row, _ := s.AuctionByID(ctx, id)
		if row.Status != models.StatusClosed || ptrValue(row.WinnerID) != ann.ID {
			t.Fatalf("closing not stored: %s winner %v", row.Status, row.WinnerID)
		}
	})
}

func TestEngineTimerClosesAndSoftCloseExtends(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann := newTestUser(t, s, "seller"), newTestUser(t, s, "ann")
		endsAt := time.Now().UTC().Add(400 * time.Millisecond).Truncate(time.Millisecond)
		id := newTestAuction(t, s, seller, func(a *models.Auction) {
			a.EndsAt = endsAt
			a.ExtensionSeconds = 1
		})
		e := startEngine(t, s, Options{SweepInterval: time.Hour})
		sub, err := e.Subscribe(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		r, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("10")})
		if err != nil {
			t.Fatal(err)
		}
		newEnd, _ := time.Parse(time.RFC3339, r.Auction().EndsAt)
		if !newEnd.After(endsAt) {
			t.Fatalf("a bid inside the window must extend: ends_at %s, was %s", r.Auction().EndsAt, FormatTime(endsAt))
		}
		final := waitFor(t, sub, func(v View) bool { return v.Status == StatusClosed })
		if final.Winner == nil || final.Winner.ID != ann.ID || final.EndsAt != r.Auction().EndsAt {
			t.Fatalf("closed state: %+v", final)
		}
		if time.Now().Before(newEnd) {
			t.Fatalf("closed before the extended end")
		}
	})
}

// viewOf decodes the state an update carries, as its watchers read it.
func viewOf(t *testing.T, u *Update) View {
	t.Helper()
	var msg struct{ Auction View }
	if err := json.Unmarshal(u.JSON, &msg); err != nil {
		t.Fatalf("update %s: %v", u.JSON, err)
	}
	return msg.Auction
}

// waitFor reads a subscription like a watcher's writer would until ok holds.
func waitFor(t *testing.T, sub *Subscription, ok func(View) bool) View {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if v := viewOf(t, sub.Latest()); ok(v) {
			return v
		}
		select {
		case <-sub.Notify():
		case <-sub.Done():
			t.Fatalf("subscription ended: %v", sub.Err())
		case <-deadline:
			t.Fatalf("timed out; last state %+v", viewOf(t, sub.Latest()))
		}
	}
}

// TestEngineSlowWatcherConflation: a watcher that never reads does not slow bidding, and when it
// looks it finds the newest state; outbid notices reach the bidder who lost the lead.
func TestEngineSlowWatcherConflation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann, bob := newTestUser(t, s, "seller"), newTestUser(t, s, "ann"), newTestUser(t, s, "bob")
		id := newTestAuction(t, s, seller, nil)
		metrics := &countingMetrics{}
		e := startEngine(t, s, Options{Metrics: metrics})
		slow, err := e.Subscribe(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		annWatch, err := e.Subscribe(ctx, id, ann.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer annWatch.Close()
		if snap := viewOf(t, slow.Snapshot()); snap.ID != id || snap.CurrentPrice != nil {
			t.Fatalf("snapshot: %+v", snap)
		}
		if again := slow.Snapshot(); again != nil {
			t.Fatalf("the snapshot was handed out twice (seq %d): a long-lived watcher keeps it", again.Seq)
		}
		var last BidResult
		for i := range 40 {
			bidder := []UserRef{ann, bob}[i%2]
			v, err := e.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if last, err = e.Bid(ctx, id, BidRequest{Bidder: bidder, Amount: money(v.MinNextBid)}); err != nil {
				t.Fatalf("bid %d: %v", i, err)
			}
		}
		got := viewOf(t, slow.Latest())
		if got.Seq != last.Auction().Seq || *got.CurrentPrice != *last.Auction().CurrentPrice || got.BidCount != 40 {
			t.Fatalf("slow watcher holds seq %d price %v, newest is seq %d price %v", got.Seq, *got.CurrentPrice, last.Auction().Seq, *last.Auction().CurrentPrice)
		}
		var msg map[string]any
		if err := json.Unmarshal(slow.Latest().JSON, &msg); err != nil || msg["type"] != "auction" {
			t.Fatalf("encoded update: %s (%v)", slow.Latest().JSON, err)
		}
		// ann was outbid 20 times but only reads now: her queue is small, so she was dropped as
		// a slow consumer instead of being waited for.
		select {
		case <-annWatch.Done():
			if !errors.Is(annWatch.Err(), ErrSlowConsumer) {
				t.Fatalf("ann's subscription ended with %v", annWatch.Err())
			}
			if metrics.dropped.Load() != 1 {
				t.Fatalf("dropped watchers counted %d, want 1", metrics.dropped.Load())
			}
		default:
			t.Fatal("a watcher that never reads its own queue must be dropped once it overflows")
		}
	})
}

func TestEngineOutbidNotice(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann, bob := newTestUser(t, s, "seller"), newTestUser(t, s, "ann"), newTestUser(t, s, "bob")
		id := newTestAuction(t, s, seller, nil)
		e := startEngine(t, s, Options{})
		annWatch, err := e.Subscribe(ctx, id, ann.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer annWatch.Close()
		bobWatch, err := e.Subscribe(ctx, id, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer bobWatch.Close()
		if _, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("10")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Bid(ctx, id, BidRequest{Bidder: bob, Amount: money("15")}); err != nil {
			t.Fatal(err)
		}
		select {
		case raw := <-annWatch.Direct():
			var m struct {
				Type         string `json:"type"`
				AuctionID    int64  `json:"auction_id"`
				CurrentPrice string `json:"current_price"`
			}
			if err := json.Unmarshal(raw, &m); err != nil || m.Type != "outbid" || m.AuctionID != id || m.CurrentPrice != "15.00" {
				t.Fatalf("outbid notice %s (%v)", raw, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ann got no outbid notice")
		}
		select {
		case raw := <-bobWatch.Direct():
			t.Fatalf("bob leads and must not be told he was outbid: %s", raw)
		default:
		}
		v := waitFor(t, bobWatch, func(v View) bool { return v.BidCount == 2 })
		if v.Watchers != 2 {
			t.Fatalf("watchers = %d, want 2", v.Watchers)
		}
	})
}

func TestEngineBuyCloseCancel(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann := newTestUser(t, s, "seller"), newTestUser(t, s, "ann")
		e := startEngine(t, s, Options{})

		buyID := newTestAuction(t, s, seller, func(a *models.Auction) { a.BuyNowPrice = decimalNull("80.00") })
		v, err := e.Buy(ctx, buyID, ann)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != StatusClosed || *v.ClosedReason != ReasonBought || v.Winner.ID != ann.ID || *v.CurrentPrice != "80.00" || v.BidCount != 0 {
			t.Fatalf("bought: %+v", v)
		}
		if _, err := e.Close(ctx, buyID); !errors.Is(err, ErrConflict) {
			t.Fatalf("closing a bought auction: %v", err)
		}

		closeID := newTestAuction(t, s, seller, nil)
		if _, err := e.Bid(ctx, closeID, BidRequest{Bidder: ann, Amount: money("12")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Buy(ctx, closeID, ann); !errors.Is(err, ErrBuyNowUnavailable) {
			t.Fatalf("buy without buy-now price: %v", err)
		}
		v, err = e.Close(ctx, closeID)
		if err != nil || v.Status != StatusClosed || *v.ClosedReason != ReasonAdmin || v.Winner.ID != ann.ID {
			t.Fatalf("admin close: %+v %v", v, err)
		}

		cancelID := newTestAuction(t, s, seller, nil)
		v, err = e.Cancel(ctx, cancelID)
		if err != nil || v.Status != StatusCancelled || *v.ClosedReason != ReasonCancelled || v.Winner != nil {
			t.Fatalf("cancel: %+v %v", v, err)
		}
		if _, err := e.Cancel(ctx, cancelID); !errors.Is(err, ErrConflict) {
			t.Fatalf("cancelling twice: %v", err)
		}
		for id, status := range map[int64]string{buyID: models.StatusClosed, closeID: models.StatusClosed, cancelID: models.StatusCancelled} {
			row, err := s.AuctionByID(ctx, id)
			if err != nil || row.Status != status {
				t.Fatalf("auction %d stored as %s (%v), want %s", id, row.Status, err, status)
			}
		}
	})
}

// TestEngineTwoInstancesNeverBothWin runs two engines on one database, as two app instances
// would: the conditional update lets only one of two racing decisions be stored, and the loser
// reloads instead of overwriting.
func TestEngineTwoInstancesNeverBothWin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := newTestUser(t, s, "seller")
		id := newTestAuction(t, s, seller, nil)
		engines := []*Engine{startEngine(t, s, Options{RetryDelay: time.Millisecond}), startEngine(t, s, Options{RetryDelay: time.Millisecond})}
		var wg sync.WaitGroup
		var acked atomic.Int64
		for i := range 6 {
			u := newTestUser(t, s, fmt.Sprintf("u%d", i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := engines[i%2]
				for n := range 30 {
					// Reads queued behind a conflicting commit get the reloaded state, never an
					// error: both kinds of read, the state alone and the auction page.
					var v View
					var err error
					if n%2 == 0 {
						v, err = e.Get(ctx, id)
					} else {
						var p Page
						p, err = e.Page(ctx, id)
						v = p.View
					}
					if err != nil {
						t.Errorf("read %d: %v", n, err)
						return
					}
					_, err = e.Bid(ctx, id, BidRequest{Bidder: u, Amount: money(v.MinNextBid), RequestID: fmt.Sprint(n)})
					switch {
					case err == nil:
						acked.Add(1)
					case errors.Is(err, ErrBidTooLow), errors.Is(err, ErrUnavailable):
					default:
						t.Errorf("bid: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		_, bids := assertRowMatchesReplay(t, s, id)
		if int64(len(bids)) != acked.Load() {
			t.Fatalf("%d bids stored, %d acknowledged", len(bids), acked.Load())
		}
	})
}

func TestEngineIdleActorsStopAndRestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann := newTestUser(t, s, "seller"), newTestUser(t, s, "ann")
		id := newTestAuction(t, s, seller, nil)
		e := startEngine(t, s, Options{IdleTimeout: 30 * time.Millisecond})
		for i := range 5 {
			v, err := e.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money(v.MinNextBid).Add(money(fmt.Sprint(i)))}); err != nil && !errors.Is(err, ErrBidTooLow) {
				t.Fatal(err)
			}
			time.Sleep(60 * time.Millisecond)
			if n := e.ActiveActors(); n != 0 {
				t.Fatalf("%d actors still running after the idle timeout", n)
			}
		}
		sub, err := e.Subscribe(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
		if n := e.ActiveActors(); n != 1 {
			t.Fatalf("an actor with a watcher must stay: %d running", n)
		}
		sub.Close()
		deadline := time.Now().Add(5 * time.Second)
		for e.ActiveActors() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("actor did not stop after its last watcher left")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestEngineShutdownEndsSubscriptionsAndRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann := newTestUser(t, s, "seller"), newTestUser(t, s, "ann")
		id := newTestAuction(t, s, seller, nil)
		e := New(s, Options{})
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		sub, err := e.Subscribe(ctx, id, ann.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.Done():
			if !errors.Is(sub.Err(), ErrShutdown) {
				t.Fatalf("subscription ended with %v", sub.Err())
			}
		default:
			t.Fatal("shutdown must end subscriptions")
		}
		sub.Close() // must not block after shutdown
		if _, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("50")}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("bid after shutdown: %v", err)
		}
		if n := e.ActiveActors(); n != 0 {
			t.Fatalf("%d actors left after shutdown", n)
		}
	})
}

func ptrValue(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// TestEngineWatcherCountsAreCoalesced: a crowd arriving costs a few state changes, not one per
// watcher, and the count still ends up right, in the state and in the snapshot.
func TestEngineWatcherCountsAreCoalesced(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := newTestUser(t, s, "seller")
		id := newTestAuction(t, s, seller, nil)
		e := startEngine(t, s, Options{WatchersDelay: 100 * time.Millisecond})
		before, err := e.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		const crowd = 60
		subs := make([]*Subscription, crowd)
		for i := range subs {
			if subs[i], err = e.Subscribe(ctx, id, 0); err != nil {
				t.Fatal(err)
			}
			defer subs[i].Close()
			if got := viewOf(t, subs[i].Snapshot()).Watchers; got != i+1 {
				t.Fatalf("snapshot of watcher %d counts %d watchers", i+1, got)
			}
		}
		final := waitFor(t, subs[0], func(v View) bool { return v.Watchers == crowd })
		if grew := final.Seq - before.Seq; grew > 3 {
			t.Fatalf("%d watchers arriving raised seq by %d; want a few coalesced changes", crowd, grew)
		}
		row, err := s.AuctionByID(ctx, id)
		if err != nil || row.Seq != final.Seq {
			t.Fatalf("stored seq %d, broadcast %d (%v)", row.Seq, final.Seq, err)
		}
	})
}

// TestEngineRecentBidsMatchTheDatabase: the actor's memory of the newest bids, which the auction
// page shows, is exactly what the database lists, before and after a restart.
func TestEngineRecentBidsMatchTheDatabase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann, bob, cyd := newTestUser(t, s, "seller"), newTestUser(t, s, "ann"), newTestUser(t, s, "bob"), newTestUser(t, s, "cyd")
		id := newTestAuction(t, s, seller, nil)
		e := startEngine(t, s, Options{})
		// check compares with the database; wantLen -1 takes whatever length it has.
		check := func(e *Engine, wantLen int) {
			t.Helper()
			p, err := e.Page(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			v, recent := p.View, p.Bids
			stored, err := e.Bids(ctx, id, RecentBids, 0)
			if err != nil {
				t.Fatal(err)
			}
			if (wantLen >= 0 && len(recent) != wantLen) || !slices.Equal(recent, stored) || v.BidCount < len(recent) {
				t.Fatalf("recent bids %+v\nstored %+v", recent, stored)
			}
		}
		check(e, 0)
		var wg sync.WaitGroup
		for i := range RecentBids + 7 {
			bidder := []UserRef{ann, bob}[i%2]
			v, err := e.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.Bid(ctx, id, BidRequest{Bidder: bidder, Amount: money(v.MinNextBid)}); err != nil {
				t.Fatal(err)
			}
			if i == 3 {
				// Concurrent raises of cyd's own maximum, so that one batch may hold several.
				for k := range 3 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := e.Bid(ctx, id, BidRequest{Bidder: cyd, Amount: money(fmt.Sprint(5000 + k))}); err != nil && !errors.Is(err, ErrBidTooLow) {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
			}
			check(e, -1)
		}
		check(e, RecentBids)
		if err := e.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		check(startEngine(t, s, Options{}), RecentBids)
	})
}

// TestRetryAfterAFailedCommitIgnoresTheWallClock: after a failed commit the actor pauses for
// RetryDelay before committing again. The pause is the retry timer's alone: with a deadline on
// the wall clock, a clock stepped back (NTP) held every later bid uncommitted, and its caller
// waiting, until the clock caught up.
func TestRetryAfterAFailedCommitIgnoresTheWallClock(t *testing.T) {
	s := dbtest.SQLite(t)
	ctx := context.Background()
	seller, ann := newTestUser(t, s, "seller"), newTestUser(t, s, "ann")
	id := newTestAuction(t, s, seller, nil)
	// The database refuses this one bid, as it would refuse all during an outage.
	if err := s.DB().Exec(`CREATE TRIGGER refuse_bid BEFORE INSERT ON bids WHEN NEW.amount = '13.13'
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`).Error; err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	clk.Set(time.Now().UTC())
	e := startEngine(t, s, Options{Now: clk.Now, RetryDelay: 50 * time.Millisecond, SweepInterval: time.Hour})
	if _, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("13.13")}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("bid whose commit fails: %v, want %v", err, ErrUnavailable)
	}
	clk.Set(clk.Now().Add(-10 * time.Second))
	wait, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, err := e.Bid(wait, id, BidRequest{Bidder: ann, Amount: money("20.00")})
	if err != nil {
		t.Fatalf("a valid bid after the retry delay, the clock stepped back: %v", err)
	}
	if r.Bid.ID == 0 {
		t.Errorf("bid answered without being stored: %+v", r.Bid)
	}
}

// TestEngineWatcherCountAcrossARestart: the watcher count is public state under a seq, so a
// restart, after which nobody watches, must not show the stored seq with a count other than
// the one stored under it. The count used to be kept in memory only, and came back as 0
// under the old seq; now the drop to 0 is a change with a seq of its own.
func TestEngineWatcherCountAcrossARestart(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := newTestUser(t, s, "seller")
		id := newTestAuction(t, s, seller, nil)
		opts := Options{WatchersDelay: 20 * time.Millisecond}
		e := New(s, opts)
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		subs := make([]*Subscription, 3)
		for i := range subs {
			var err error
			if subs[i], err = e.Subscribe(ctx, id, 0); err != nil {
				t.Fatal(err)
			}
			defer subs[i].Close()
		}
		// The first watcher's snapshot counted one; a count of 3 reaches it only as a
		// stored, broadcast state.
		watched := waitFor(t, subs[0], func(v View) bool { return v.Watchers == 3 })
		stop, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := e.Shutdown(stop); err != nil {
			t.Fatal(err)
		}
		if row, err := s.AuctionByID(ctx, id); err != nil || row.Seq != watched.Seq || row.Watchers != 3 {
			t.Fatalf("stored seq %d with %d watchers, want seq %d with 3 (%v)", row.Seq, row.Watchers, watched.Seq, err)
		}

		e2 := startEngine(t, s, opts)
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, err := e2.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if v.Seq == watched.Seq && v.Watchers != 3 {
				t.Fatalf("after the restart, seq %d shows %d watchers; it was stored with 3", v.Seq, v.Watchers)
			}
			if v.Watchers == 0 {
				if v.Seq <= watched.Seq {
					t.Fatalf("no watchers under seq %d, not above the stored %d", v.Seq, watched.Seq)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the restart, still %d watchers shown at seq %d", v.Watchers, v.Seq)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
