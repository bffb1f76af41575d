package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// crashCase is one kill moment of TestCrashSafety.
type crashCase struct {
	name string
	// killAfter is how long everyone bids before the kill.
	killAfter time.Duration
	// burst: after killAfter, every bidder stops, all send one bid at the same moment, and the
	// kill follows as soon as they are sent, while those bids are being decided and stored.
	burst bool
}

var crashCases = []crashCase{
	{name: "kill_after_300ms", killAfter: 300 * time.Millisecond},
	{name: "kill_after_1200ms", killAfter: 1200 * time.Millisecond},
	{name: "kill_after_2500ms", killAfter: 2500 * time.Millisecond},
	{name: "kill_right_after_a_burst", killAfter: 700 * time.Millisecond, burst: true},
}

// The crowd of TestCrashSafety.
const (
	crashUsers       = 10 // bidder accounts; each bidder goroutine is one of them
	crashWSBidders   = 30
	crashHTTPBidders = 6
	// shortMargin is how long after the kill (as planned when they are created) the short
	// auctions end, so that they end while the server is down.
	shortMargin = 2200 * time.Millisecond
	// burstKillDelay is the time between the last burst bid leaving its client and the kill:
	// enough for the bids to be decided, short enough to catch their commit under way.
	burstKillDelay = 2 * time.Millisecond
	// midwayLead is roughly how long the bidders take to connect; the auction that ends while
	// they bid ends about halfway to the kill.
	midwayLead = 200 * time.Millisecond
)

// crashPlans are the auctions of one case: long ones that outlive the test, and short ones that
// end while the server is down; with and without a reserve (met and unmet), with and without
// soft close.
func crashPlans() []*auctionPlan {
	return []*auctionPlan{
		{Name: "long", Starting: "10", Extension: 120},
		{Name: "long-reserve", Starting: "5", Reserve: "40", Extension: 120},
		{Name: "long-soft-close-1h", Starting: "20", Extension: 3600},
		{Name: "short", Short: true, Starting: "10", Extension: 0},
		{Name: "short-reserve-low", Short: true, Starting: "10", Reserve: "10.50", Extension: 0},
		{Name: "short-reserve-unreachable", Short: true, Starting: "10", Reserve: "900000000", Extension: 0},
		{Name: "short-soft-close-2s-reserve", Short: true, Starting: "1", Reserve: "2", Extension: 2},
		{Name: "ends-mid-bidding", Short: true, EndsMidway: true, Starting: "10", Reserve: "12", Extension: 0},
	}
}

// TestCrashSafety runs the real binary on PostgreSQL, has a crowd bid on several auctions over
// WebSockets and the HTTP API, kills the process with SIGKILL at a chosen moment, lets the short
// auctions' end pass while it is down, restarts it on the same database and checks PROTOCOL.md
// §3 "a restart loses no acknowledged bid and no closing":
//
//	(a) every acknowledged bid is stored as acknowledged (database and GET …/bids);
//	(b) each stored auction row (price, leader, hidden leader maximum, bid count, ends_at) and
//	    its public state equal the replay of its stored bids through auction.PlaceBid;
//	(c) no stored bid was accepted at or after the auction's final ends_at;
//	(d) the auctions that ended while the server was down are closed ("ended") with the
//	    replayed leader as winner when the reserve is met, else none; and so is the one
//	    that ended while the crowd was bidding on it, before the kill;
//	(e) bidding resumes on the long auctions after the restart (and is refused on the ended);
//	(f) repeating an acknowledged request_id after the restart answers with the same bid and
//	    leading flag and places nothing new; so does repeating a request that was stored but
//	    whose answer the kill cut off.
//
// Each kill moment is a subtest with its own database and server.
func TestCrashSafety(t *testing.T) {
	for i, c := range crashCases {
		t.Run(c.name, func(t *testing.T) { runCrashCase(t, i, c) })
	}
}

func runCrashCase(t *testing.T, caseNo int, c crashCase) {
	dbURL := freshDatabase(t)
	began := time.Now()
	srv := startBinary(t, "before the kill", dbURL)
	api := newAPIClient(t, srv.URL)

	names := []string{fmt.Sprintf("c%d_seller", caseNo)}
	for i := range crashUsers {
		names = append(names, fmt.Sprintf("c%d_bidder%02d", caseNo, i))
	}
	accts := signUpAll(t, api, names)
	seller, users := accts[0], accts[1:]

	plans := crashPlans()
	longEnd := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	for _, p := range plans {
		if !p.Short {
			p.EndsAt = longEnd
			p.create(t, api, seller)
		}
	}
	// The short ones last, right before the bidders connect: they end shortMargin after the
	// planned kill.
	created := time.Now()
	shortEnd := created.Add(c.killAfter + shortMargin).UTC().Truncate(time.Millisecond)
	midEnd := created.Add(midwayLead + c.killAfter/2).UTC().Truncate(time.Millisecond)
	for _, p := range plans {
		if p.Short {
			p.EndsAt = shortEnd
			if p.EndsMidway {
				p.EndsAt = midEnd
			}
			p.create(t, api, seller)
		}
	}

	// The crowd connects, then bids from the same moment on.
	l := newLedger()
	g := newGate(crashWSBidders+crashHTTPBidders, c.burst)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	seed := uint64(time.Now().UnixNano())
	for i := range crashWSBidders {
		b := newBidder(fmt.Sprintf("c%d-ws%02d", caseNo, i), users[i%crashUsers], plans[i%len(plans)].ID, l, g, seed+uint64(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.runWS(ctx, srv.URL)
		}()
	}
	for i := range crashHTTPBidders {
		b := newBidder(fmt.Sprintf("c%d-http%d", caseNo, i), users[(i+3)%crashUsers], plans[i%len(plans)].ID, l, g, seed+1000+uint64(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.runHTTP(ctx, api)
		}()
	}
	if !waitGroup(&g.ready, 30*time.Second) {
		t.Fatalf("e2e: the bidders did not all connect within 30 s")
	}
	if _, _, evs := l.snapshot(); len(evs) > 0 {
		t.Fatalf("e2e: connecting the bidders: %v", evs)
	}
	start := time.Now()
	close(g.start)

	// The kill.
	<-time.After(time.Until(start.Add(c.killAfter)))
	if c.burst {
		close(g.pause)
		if !waitGroup(&g.arrived, 15*time.Second) {
			t.Logf("e2e: not every bidder lined up for the burst within 15 s; firing anyway")
		}
		close(g.fire)
		if !waitGroup(&g.sent, 10*time.Second) {
			t.Logf("e2e: not every bidder sent its burst bid within 10 s; killing anyway")
		}
		// A moment for the burst to reach the actors and their commits.
		<-time.After(burstKillDelay)
	}
	killAt := time.Now()
	ackedBefore := l.ackCount()
	srv.kill()
	t.Logf("e2e: SIGKILL %s after the bidding started (planned %s%s); %d bids acknowledged by then",
		killAt.Sub(start).Round(time.Millisecond), c.killAfter, map[bool]string{true: " + a burst", false: ""}[c.burst], ackedBefore)

	// Every bidder notices (its connection breaks), and what was acknowledged is final.
	if !waitGroup(&wg, 15*time.Second) {
		cancel()
		if !waitGroup(&wg, 10*time.Second) {
			t.Fatalf("e2e: bidders still run 25 s after the kill")
		}
	}
	cancel()
	acks, unanswered, events := l.snapshot()
	t.Logf("e2e: %s", l.summary())
	for _, e := range events {
		if e.At.Before(killAt) {
			t.Errorf("e2e: before the kill, %s: %s: %s", e.Who, e.Kind, e.What)
		}
	}
	if len(acks) == 0 {
		t.Fatalf("e2e: no bid was acknowledged before the kill; nothing to check")
	}

	// While it is down: the short auctions should still be open in the database, their end not
	// yet come (only said, not failed: a very slow machine may connect the bidders too late),
	// and the test waits until their final ends_at, as stored, has passed.
	store := openStore(t, dbURL)
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer dcancel()
	var latestEnd time.Time
	for _, p := range plans {
		if !p.Short {
			continue
		}
		row, err := store.AuctionByID(dctx, p.ID)
		if err != nil {
			t.Fatalf("e2e: read %s while the server is down: %v", p, err)
		}
		if p.EndsMidway {
			t.Logf("e2e: %s, which ends at %s (%s after the bidding started), is %s in the database at the kill, with %d bids",
				p, auction.FormatTime(row.EndsAt), row.EndsAt.Sub(start).Round(time.Millisecond), row.Status, row.BidCount)
		} else if row.Status != "open" || !row.EndsAt.After(killAt) {
			t.Logf("e2e: %s was %s with ends_at %s at the kill (%s): its end came before the kill, so it did not end while the server was down (a slow machine)",
				p, row.Status, auction.FormatTime(row.EndsAt), auction.FormatTime(killAt))
		}
		if row.EndsAt.After(latestEnd) {
			latestEnd = row.EndsAt
		}
	}
	if d := time.Until(latestEnd); d > time.Minute {
		t.Fatalf("e2e: the short auctions end at %s, over a minute from now", auction.FormatTime(latestEnd))
	}
	<-time.After(time.Until(latestEnd) + 100*time.Millisecond)

	// The restart, on the same database.
	srv2 := startBinary(t, "after the restart", dbURL)
	api2 := newAPIClient(t, srv2.URL)
	restartedAt := time.Now()
	t.Logf("e2e: restarted %s after the kill", restartedAt.Sub(killAt).Round(time.Millisecond))

	// (a)
	if lost := checkAcksStored(t, dctx, store, api2, plans, acks); lost > 0 {
		t.Errorf("e2e: %d of %d acknowledged bids are lost after the restart", lost, len(acks))
	}
	checkRefusedNotStored(t, dctx, store, plans, l.refusedBids())
	// (b), (c), (d)
	storedCount := map[int64]int{}
	for _, p := range plans {
		r := checkReplay(t, dctx, store, api2, p, restartedAt)
		storedCount[p.ID] = len(r.Bids)
		// PROTOCOL.md §4: seq never decreases, also across restarts.
		if seen := l.seenSeq(p.ID); r.Row.Seq < seen {
			t.Errorf("e2e: %s: clients saw seq %d before the kill; after the restart the stored seq is %d", p, seen, r.Row.Seq)
		}
		if p.Short {
			met := "no reserve"
			if m := r.Final.ReserveMet(); m != nil {
				met = map[bool]string{true: "reserve met", false: "reserve not met"}[*m]
			}
			// The winner by PROTOCOL.md §3 directly: the replayed leader if there is no reserve
			// or the replayed price reached it; else nobody.
			var wantWinner *int64
			if !r.Complete {
				wantWinner = r.Row.WinnerID // the replay failed, and said so; nothing to compare
			} else if !r.Final.Leader.IsZero() && (p.Reserve == "" || (r.Final.CurrentPrice.Valid && r.Final.CurrentPrice.Decimal.GreaterThanOrEqual(dec(t, p.Reserve)))) {
				wantWinner = refPtr(r.Final.Leader)
			}
			if !sameID(r.Row.WinnerID, wantWinner) {
				t.Errorf("e2e: %s ended with price %s (reserve %q), replayed leader %s: the stored winner is %s, want %s",
					p, fmtNull(r.Final.CurrentPrice), p.Reserve, fmtRef(r.Final.Leader), fmtID(r.Row.WinnerID), fmtID(wantWinner))
			}
			if r.Row.Status != "closed" || r.Row.ClosedReason == nil || *r.Row.ClosedReason != "ended" {
				t.Errorf("e2e: %s ended at %s, before the restart, but after the restart it is stored as %s (closed_reason %s)",
					p, auction.FormatTime(r.Row.EndsAt), r.Row.Status, strPtr(r.Row.ClosedReason))
			}
			moved := ""
			if !r.Row.EndsAt.Equal(p.EndsAt) {
				moved = fmt.Sprintf(", ends_at moved by soft close from %s to %s", auction.FormatTime(p.EndsAt), auction.FormatTime(r.Row.EndsAt))
			}
			t.Logf("e2e: %s: %d bids stored, price %s, %s, winner %s (replayed leader %s)%s",
				p, len(r.Bids), fmtNull(r.Row.CurrentPrice), met, fmtID(r.Row.WinnerID), fmtRef(r.Final.Leader), moved)
		} else if r.Row.Status != "open" {
			t.Errorf("e2e: %s should still be open after the restart; it is %s", p, r.Row.Status)
		}
	}

	// (f) Repeats of acknowledged requests, and of stored requests whose answer was cut off.
	repeats := pickRepeats(acks, killAt, 200)
	inflight := storedButUnanswered(t, dctx, store, unanswered)
	t.Logf("e2e: %d requests were in flight at the kill: %d of them are stored (acknowledged by nobody), %d are not",
		len(unanswered), len(inflight), len(unanswered)-len(inflight))
	repeats = append(repeats, inflight...)
	repeatRequests(t, api2, repeats)
	repeatOverWS(t, srv2.URL, acks)
	for _, p := range plans {
		bids, err := store.AllBids(dctx, p.ID)
		if err != nil {
			t.Fatalf("e2e: read the bids of %s: %v", p, err)
		}
		if len(bids) != storedCount[p.ID] {
			t.Errorf("e2e: %s: repeating %d already stored request ids changed the number of stored bids from %d to %d",
				p, len(repeats), storedCount[p.ID], len(bids))
		}
	}

	// (e) Bidding resumes on the long auctions, over both paths; the ended ones refuse.
	resumed := resumeBidding(t, api2, srv2.URL, plans, users)
	checkAcksStored(t, dctx, store, api2, plans, append(acks, resumed...))
	for _, p := range plans {
		r := checkReplay(t, dctx, store, api2, p, time.Now())
		want := storedCount[p.ID]
		if !p.Short {
			want += 2
		}
		if len(r.Bids) != want {
			t.Errorf("e2e: %s: %d bids stored after the resumed bidding, want %d", p, len(r.Bids), want)
		}
	}
	t.Logf("e2e: case %s took %s", c.name, time.Since(began).Round(time.Millisecond))
}

// pickRepeats chooses the acknowledged requests to repeat after the restart: all of those
// acknowledged in the last 300 ms before the kill (the likeliest to be lost), the last five
// of every auction, and a random sample of the rest, at most limit in all.
func pickRepeats(acks []ackedBid, killAt time.Time, limit int) []ackedBid {
	chosen := map[int64]bool{}
	var out []ackedBid
	add := func(a ackedBid) {
		if !chosen[a.BidID] && len(out) < limit {
			chosen[a.BidID] = true
			out = append(out, a)
		}
	}
	for _, list := range acksByAuction(acks) {
		for _, a := range list[max(0, len(list)-5):] {
			add(a)
		}
	}
	for _, a := range acks {
		if a.AckAt.After(killAt.Add(-300 * time.Millisecond)) {
			add(a)
		}
	}
	for _, i := range rand.Perm(len(acks)) {
		add(acks[i])
	}
	return out
}

// storedButUnanswered finds the requests in flight at the kill that were stored anyway (the
// server decided and stored them, but the kill cut off the answer): their repeat must answer
// with the stored bid.
func storedButUnanswered(t *testing.T, ctx context.Context, store *models.Store, unanswered []sentBid) []ackedBid {
	t.Helper()
	byAuction := map[int64]map[string]models.Bid{}
	var out []ackedBid
	for _, s := range unanswered {
		stored, ok := byAuction[s.Auction]
		if !ok {
			bids, err := store.AllBids(ctx, s.Auction)
			if err != nil {
				t.Fatalf("e2e: read the bids of auction %d: %v", s.Auction, err)
			}
			stored = map[string]models.Bid{}
			for _, b := range bids {
				if b.RequestID != nil {
					stored[strconv.FormatInt(b.BidderID, 10)+"/"+*b.RequestID] = b
				}
			}
			byAuction[s.Auction] = stored
		}
		if b, ok := stored[strconv.FormatInt(s.User.ID, 10)+"/"+s.RequestID]; ok {
			out = append(out, ackedBid{sentBid: s, BidID: b.ID, Leading: b.Leading})
		}
	}
	return out
}

// repeatRequests sends each request again over HTTP, with the same bidder, body and request
// id: the answer must be 201 with the same bid id, amount and leading flag.
func repeatRequests(t *testing.T, api *apiClient, repeats []ackedBid) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(6)
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	for _, a := range repeats {
		g.Go(func() error {
			body := map[string]string{"amount": a.Amount, "request_id": a.RequestID}
			if a.Max != "" {
				body["max_amount"] = a.Max
			}
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			var ans bidAnswer
			status, err := api.call(ctx, "POST", "/api/v1/auctions/"+strconv.FormatInt(a.Auction, 10)+"/bids", a.User.Token, body, &ans)
			switch {
			case err != nil:
				fail("repeating %s after the restart: %v; want 201 with bid %d", a, err, a.BidID)
			case status != 201 || ans.Bid.ID != a.BidID || ans.Leading != a.Leading || ans.Bid.Amount != a.Amount:
				fail("repeating %s after the restart: %d with bid %d (amount %s, leading=%v); want 201 with bid %d (amount %s, leading=%v)",
					a, status, ans.Bid.ID, ans.Bid.Amount, ans.Leading, a.BidID, a.Amount, a.Leading)
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, f := range failures {
		t.Errorf("e2e: %s", f)
	}
	t.Logf("e2e: repeated %d stored request ids over HTTP after the restart; %d answered wrongly", len(repeats), len(failures))
}

// repeatOverWS repeats, over a WebSocket, the last acknowledged request of each auction.
func repeatOverWS(t *testing.T, base string, acks []ackedBid) {
	t.Helper()
	for _, list := range acksByAuction(acks) {
		a := list[len(list)-1]
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		c, err := dialLive(ctx, base, a.Auction, a.User.Token, requestTimeout)
		cancel()
		if err != nil {
			t.Errorf("e2e: open a WebSocket to repeat %s: %v", a, err)
			continue
		}
		if err := c.sendBid(a.RequestID, a.Amount, a.Max); err != nil {
			t.Errorf("e2e: repeat %s over a WebSocket: %v", a, err)
		} else if m, ok := awaitAnswer(c, a.RequestID); !ok {
			_, err := c.ended()
			t.Errorf("e2e: repeating %s over a WebSocket: no answer (%v)", a, err)
		} else if m.Type != "bid_accepted" || m.Bid == nil || m.Bid.ID != a.BidID || m.Leading != a.Leading {
			t.Errorf("e2e: repeating %s over a WebSocket: %s; want bid_accepted with bid %d, leading=%v", a, describe(m), a.BidID, a.Leading)
		}
		c.closeNow()
	}
}

// awaitAnswer reads until the answer to requestID (bid_accepted or bid_rejected).
func awaitAnswer(c *wsConn, requestID string) (liveMsg, bool) {
	for m := range c.msgs {
		if (m.Type == "bid_accepted" || m.Type == "bid_rejected") && m.RequestID == requestID {
			return m, true
		}
	}
	return liveMsg{}, false
}

func describe(m liveMsg) string {
	switch {
	case m.Error != nil:
		return fmt.Sprintf("%s %s (%s)", m.Type, m.Error.Code, m.Error.Message)
	case m.Bid != nil:
		return fmt.Sprintf("%s with bid %d (amount %s, leading=%v)", m.Type, m.Bid.ID, m.Bid.Amount, m.Leading)
	}
	return m.Type
}

// resumeBidding bids once over HTTP and once over a WebSocket on each long auction, as users
// who do not lead, and once on each ended auction, which must refuse with auction_closed. It
// returns the acknowledged bids.
func resumeBidding(t *testing.T, api *apiClient, base string, plans []*auctionPlan, users []account) []ackedBid {
	t.Helper()
	var out []ackedBid
	notLeading := func(p *auctionPlan, skip int64) (auctionJSON, account) {
		var st auctionJSON
		api.must(t, 200, "GET", "/api/v1/auctions/"+strconv.FormatInt(p.ID, 10), "", nil, &st)
		for _, u := range users {
			if u.ID != skip && (st.HighBidder == nil || st.HighBidder.ID != u.ID) {
				return st, u
			}
		}
		t.Fatalf("e2e: no bidder to resume %s with", p)
		return st, account{}
	}
	for _, p := range plans {
		path := "/api/v1/auctions/" + strconv.FormatInt(p.ID, 10) + "/bids"
		st, u := notLeading(p, 0)
		s := sentBid{Auction: p.ID, User: u, RequestID: "resume-http-" + strconv.FormatInt(p.ID, 10), Amount: st.MinNextBid, Via: "http", At: time.Now()}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		var ans bidAnswer
		status, err := api.call(ctx, "POST", path, u.Token, map[string]string{"amount": s.Amount, "request_id": s.RequestID}, &ans)
		cancel()
		if p.Short {
			if errorCode(err) != "auction_closed" {
				t.Errorf("e2e: a bid on %s after its end and the restart: status %d, %v; want 422 auction_closed", p, status, err)
			}
			continue
		}
		if err != nil || status != 201 {
			t.Errorf("e2e: bidding does not resume on %s after the restart: %s: status %d, %v", p, s, status, err)
			continue
		}
		out = append(out, ackedBid{sentBid: s, BidID: ans.Bid.ID, Leading: ans.Leading, AckAt: time.Now()})

		// And over a WebSocket, as another user.
		_, u2 := notLeading(p, u.ID)
		ctx, cancel = context.WithTimeout(context.Background(), requestTimeout)
		c, err := dialLive(ctx, base, p.ID, u2.Token, requestTimeout)
		cancel()
		if err != nil {
			t.Errorf("e2e: open a WebSocket on %s after the restart: %v", p, err)
			continue
		}
		s2 := sentBid{Auction: p.ID, User: u2, RequestID: "resume-ws-" + strconv.FormatInt(p.ID, 10), Amount: c.snapshot.MinNextBid, Via: "ws", At: time.Now()}
		if err := c.sendBid(s2.RequestID, s2.Amount, ""); err != nil {
			t.Errorf("e2e: bid over a WebSocket on %s after the restart: %v", p, err)
		} else if m, ok := awaitAnswer(c, s2.RequestID); !ok || m.Type != "bid_accepted" || m.Bid == nil {
			_, err := c.ended()
			t.Errorf("e2e: bidding over a WebSocket does not resume on %s after the restart: %s: %s (connection: %v)", p, s2, describe(m), err)
		} else {
			out = append(out, ackedBid{sentBid: s2, BidID: m.Bid.ID, Leading: m.Leading, AckAt: time.Now()})
		}
		c.closeNow()
	}
	return out
}
