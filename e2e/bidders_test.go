package e2e

// Bidders for the tests of the real binary: goroutines that bid continuously over a WebSocket
// or the HTTP API with unique request ids, and a ledger of everything they sent, every bid the
// server acknowledged, and everything unexpected, each with its time, so that a test can judge
// what happened before and after a kill or a signal.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/auction"
)

// sentBid is one bid request as a client sent it.
type sentBid struct {
	Auction   int64
	User      account
	RequestID string
	Amount    string
	Max       string // "" when the bid had no max_amount
	Via       string // "ws" or "http"
	At        time.Time
}

func (s sentBid) String() string {
	max := ""
	if s.Max != "" {
		max = " max " + s.Max
	}
	return fmt.Sprintf("request %q (%s%s by %s #%d on auction %d, sent over %s at %s)",
		s.RequestID, s.Amount, max, s.User.Name, s.User.ID, s.Auction, s.Via, s.At.UTC().Format("15:04:05.000"))
}

// ackedBid is a bid the server acknowledged: bid_accepted over a WebSocket, or 201.
type ackedBid struct {
	sentBid
	BidID   int64
	Leading bool
	AckAt   time.Time
}

func (a ackedBid) String() string {
	return fmt.Sprintf("bid %d, %s, acknowledged (leading=%v) at %s", a.BidID, a.sentBid, a.Leading, a.AckAt.UTC().Format("15:04:05.000"))
}

// refusedBid is a bid the server refused, with the error code it gave.
type refusedBid struct {
	sentBid
	Code string
}

// event is something a bidder met that is neither an acknowledgement nor a routine refusal.
type event struct {
	At   time.Time
	Kind string // "problem": never expected; "ended": the connection ended; "refused": an error code
	Who  string
	What string
}

// ledger is shared by all the bidders of one test.
type ledger struct {
	mu         sync.Mutex
	sent       int
	acks       []ackedBid
	unanswered []sentBid // sent, and the connection ended before the answer
	refused    []refusedBid
	refusals   map[string]int
	events     []event
	maxSeq     map[int64]int64 // the highest seq any client saw, by auction
}

func newLedger() *ledger { return &ledger{refusals: map[string]int{}, maxSeq: map[int64]int64{}} }

// saw notes a state a client received.
func (l *ledger) saw(st auctionJSON) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.Seq > l.maxSeq[st.ID] {
		l.maxSeq[st.ID] = st.Seq
	}
}

// seenSeq is the highest seq any client saw for the auction.
func (l *ledger) seenSeq(auctionID int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxSeq[auctionID]
}

func (l *ledger) noteSent() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
}

func (l *ledger) ack(s sentBid, bidID int64, leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acks = append(l.acks, ackedBid{sentBid: s, BidID: bidID, Leading: leading, AckAt: time.Now()})
}

func (l *ledger) refuse(s sentBid, code string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refusals[code]++
	l.refused = append(l.refused, refusedBid{sentBid: s, Code: code})
}

// refusedBids returns a copy of the refused bids.
func (l *ledger) refusedBids() []refusedBid {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]refusedBid(nil), l.refused...)
}

// retried counts a refusal after which the same request was sent again.
func (l *ledger) retried(code string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refusals[code+"(retried)"]++
}

func (l *ledger) lostAnswer(s sentBid) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unanswered = append(l.unanswered, s)
}

func (l *ledger) event(kind, who, format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event{At: time.Now(), Kind: kind, Who: who, What: fmt.Sprintf(format, args...)})
}

// snapshot returns copies of what was recorded.
func (l *ledger) snapshot() (acks []ackedBid, unanswered []sentBid, events []event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ackedBid(nil), l.acks...), append([]sentBid(nil), l.unanswered...), append([]event(nil), l.events...)
}

func (l *ledger) ackCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

func (l *ledger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	codes := make([]string, 0, len(l.refusals))
	for c, n := range l.refusals {
		codes = append(codes, c+"="+strconv.Itoa(n))
	}
	sort.Strings(codes)
	return fmt.Sprintf("%d bids sent, %d acknowledged, %d without an answer; refusals: %s",
		l.sent, len(l.acks), len(l.unanswered), strings.Join(codes, " "))
}

// gate lines the bidders up: ready once connected, start together, and optionally a burst:
// once pause is closed, each bidder stops before its next bid (arrived), waits for fire, then
// sends one bid at once (sent). A bidder that ends early counts as arrived and sent.
type gate struct {
	ready, arrived, sent sync.WaitGroup
	start                chan struct{}
	pause, fire          chan struct{} // nil: no burst
}

func newGate(n int, burst bool) *gate {
	g := &gate{start: make(chan struct{})}
	g.ready.Add(n)
	if burst {
		g.pause, g.fire = make(chan struct{}), make(chan struct{})
		g.arrived.Add(n)
		g.sent.Add(n)
	}
	return g
}

// waitGroup waits for wg up to d and reports whether it finished.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// bidder is one client bidding on one auction as one user.
type bidder struct {
	name    string
	user    account
	auction int64
	l       *ledger
	g       *gate
	rng     *rand.Rand

	readyOnce, arrivedOnce, sentOnce sync.Once
	burstDone                        bool
	floor                            decimal.Decimal // refused amounts tell us the price moved past them
	n                                int

	// endErr is why the bidder's connection ended (the WebSocket read error, with the close
	// frame if any; or the HTTP failure); nil when it stopped for another reason. Read it
	// after the bidder's goroutine has returned.
	endErr error
}

func newBidder(name string, user account, auctionID int64, l *ledger, g *gate, seed uint64) *bidder {
	return &bidder{name: name, user: user, auction: auctionID, l: l, g: g, rng: rand.New(rand.NewPCG(seed, 0x5eed))}
}

func (b *bidder) markReady() { b.readyOnce.Do(b.g.ready.Done) }

func (b *bidder) markArrived() {
	if b.g.pause != nil {
		b.arrivedOnce.Do(b.g.arrived.Done)
	}
}

func (b *bidder) markSent() {
	if b.g.pause != nil {
		b.sentOnce.Do(b.g.sent.Done)
	}
}

// finish releases everyone waiting on this bidder.
func (b *bidder) finish() {
	b.markReady()
	b.markArrived()
	b.markSent()
}

// waitStart waits for the common start; false when ctx ended first.
func (b *bidder) waitStart(ctx context.Context) bool {
	select {
	case <-b.g.start:
		return true
	case <-ctx.Done():
		return false
	}
}

// burstTurn, at the top of each round, holds the bidder while a burst is being lined up and
// reports whether this round's bid is the burst's. ok is false when ctx ended.
func (b *bidder) burstTurn(ctx context.Context) (fired, ok bool) {
	if b.g.pause == nil || b.burstDone {
		return false, true
	}
	select {
	case <-b.g.pause:
	default:
		return false, true
	}
	b.markArrived()
	select {
	case <-b.g.fire:
	case <-ctx.Done():
		return false, false
	}
	b.burstDone = true
	return true, true
}

// choose picks the next bid from the newest known state: a non-leader bids the minimum (or a
// step more), half the time with a proxy maximum above it; the leader sometimes raises its
// maximum, which is all rule 2 lets it do. bid is false when the leader decides to wait.
func (b *bidder) choose(st auctionJSON, force bool) (amount, max string, bid bool) {
	minNext, err := decimal.NewFromString(st.MinNextBid)
	if err != nil {
		minNext = decimal.NewFromInt(1)
	}
	if b.floor.GreaterThan(minNext) {
		minNext = b.floor
	}
	inc := auction.Increment(minNext)
	steps := func(n int) decimal.Decimal { return inc.Mul(decimal.NewFromInt(int64(n))) }
	if st.HighBidder != nil && st.HighBidder.ID == b.user.ID {
		if !force && b.rng.IntN(4) != 0 {
			return "", "", false
		}
		return auction.FormatAmount(minNext), auction.FormatAmount(minNext.Add(steps(4 + b.rng.IntN(12)))), true
	}
	a := minNext.Add(steps(b.rng.IntN(2)))
	if b.rng.IntN(2) == 0 {
		return auction.FormatAmount(a), "", true
	}
	return auction.FormatAmount(a), auction.FormatAmount(a.Add(steps(1 + b.rng.IntN(6)))), true
}

// tooLow notes a bid_too_low: the price is past amount, whatever our state says.
func (b *bidder) tooLow(amount string) {
	if a, err := decimal.NewFromString(amount); err == nil {
		if next := a.Add(auction.Increment(a)); next.GreaterThan(b.floor) {
			b.floor = next
		}
	}
}

func (b *bidder) nextRequestID() string {
	b.n++
	return b.name + "-" + strconv.Itoa(b.n)
}

func finished(st auctionJSON) bool { return st.Status == "closed" || st.Status == "cancelled" }

// newer reports whether m carries a state newer than st.
func newer(m liveMsg, st auctionJSON) bool {
	return (m.Type == "snapshot" || m.Type == "auction") && m.Auction != nil && m.Auction.Seq > st.Seq
}

// runWS bids over a WebSocket until the connection ends, the auction closes, or ctx ends.
func (b *bidder) runWS(ctx context.Context, base string) {
	defer b.finish()
	c, err := dialLive(ctx, base, b.auction, b.user.Token, 30*time.Second)
	if err != nil {
		b.l.event("problem", b.name, "connect: %v", err)
		return
	}
	defer c.closeNow()
	st := c.snapshot
	b.l.saw(st)
	b.markReady()
	if !b.waitStart(ctx) {
		return
	}
	for {
		if finished(st) {
			return
		}
		fired, ok := b.burstTurn(ctx)
		if !ok {
			return
		}
		amount, max, bid := b.choose(st, fired)
		if !bid {
			// The leader waits for the state to move, or a moment.
			select {
			case m, open := <-c.msgs:
				if !open {
					_, err := c.ended()
					b.endErr = err
					b.l.event("ended", b.name, "connection ended: %v (close code %d)", err, closeCode(err))
					return
				}
				if newer(m, st) {
					st = *m.Auction
					b.l.saw(st)
				}
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			continue
		}
		s := sentBid{Auction: b.auction, User: b.user, RequestID: b.nextRequestID(), Amount: amount, Max: max, Via: "ws", At: time.Now()}
		b.l.noteSent()
		for attempt := 1; ; attempt++ {
			err := c.sendBid(s.RequestID, amount, max)
			if fired {
				b.markSent()
			}
			if err != nil {
				// The reader tells why the connection broke (a close frame it read, maybe).
				c.drainFor(5 * time.Second)
				_, b.endErr = c.ended()
				b.l.lostAnswer(s)
				b.l.event("ended", b.name, "send %s: %v (read side: %v)", s.RequestID, err, b.endErr)
				return
			}
			m, ok := b.awaitWS(ctx, c, &st, s)
			if !ok {
				return
			}
			if m.Type == "bid_accepted" {
				b.l.ack(s, m.Bid.ID, m.Leading)
				break
			}
			code := m.Error.Code
			if code == "unavailable" && attempt < maxAttempts {
				// README: a bid the server could not store is refused as unavailable, and
				// retrying with the same request id is always safe. A machine whose
				// PostgreSQL is swamped by other tests may see it; it is counted, not failed.
				b.l.retried(code)
				if !pause(ctx, retryPause) {
					b.l.lostAnswer(s)
					return
				}
				continue
			}
			b.l.refuse(s, code)
			switch code {
			case "bid_too_low":
				b.tooLow(amount)
			case "auction_closed":
				return
			default:
				b.l.event("refused", b.name, "%s refused (attempt %d): %s: %s", s, attempt, code, m.Error.Message)
				return
			}
			break
		}
	}
}

// Retries of a bid refused as unavailable, with the same request id.
const (
	maxAttempts = 5
	retryPause  = 100 * time.Millisecond
)

// pause waits d; false when ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

// awaitWS reads until the answer to s, keeping st up to date. ok is false when the connection
// ended (recorded) or ctx did; otherwise m is a bid_accepted with a bid, or a bid_rejected
// with an error.
func (b *bidder) awaitWS(ctx context.Context, c *wsConn, st *auctionJSON, s sentBid) (m liveMsg, ok bool) {
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				_, err := c.ended()
				b.endErr = err
				b.l.lostAnswer(s)
				b.l.event("ended", b.name, "connection ended waiting for the answer to %s: %v (close code %d)", s.RequestID, err, closeCode(err))
				return liveMsg{}, false
			}
			switch m.Type {
			case "snapshot", "auction":
				if newer(m, *st) {
					*st = *m.Auction
					b.l.saw(*st)
				}
			case "outbid":
			case "bid_accepted":
				if m.RequestID != s.RequestID || m.Bid == nil || m.Bid.ID == 0 {
					b.l.event("problem", b.name, "bid_accepted for request %q (bid %+v) while waiting for %q", m.RequestID, m.Bid, s.RequestID)
					continue
				}
				return m, true
			case "bid_rejected":
				if m.RequestID != s.RequestID || m.Error == nil {
					b.l.event("problem", b.name, "bid_rejected for request %q while waiting for %q", m.RequestID, s.RequestID)
					continue
				}
				return m, true
			default:
				b.l.event("problem", b.name, "unexpected message %s while waiting for %s", describe(m), s.RequestID)
			}
		case <-ctx.Done():
			b.l.lostAnswer(s)
			return liveMsg{}, false
		}
	}
}

// runHTTP bids over POST /api/v1/auctions/{id}/bids until a request fails, the auction
// closes, or ctx ends.
func (b *bidder) runHTTP(ctx context.Context, api *apiClient) {
	defer b.finish()
	path := "/api/v1/auctions/" + strconv.FormatInt(b.auction, 10)
	var st auctionJSON
	refresh := func() bool {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		var fresh auctionJSON
		_, err := api.call(rctx, "GET", path, "", nil, &fresh)
		for attempt := 1; errorCode(err) == "unavailable" && attempt < maxAttempts; attempt++ {
			b.l.retried("unavailable")
			if !pause(rctx, retryPause) {
				break
			}
			fresh = auctionJSON{}
			_, err = api.call(rctx, "GET", path, "", nil, &fresh)
		}
		if err != nil {
			b.endErr = err
			b.l.event("ended", b.name, "GET %s: %v", path, err)
			return false
		}
		if fresh.Seq > st.Seq {
			st = fresh
			b.l.saw(st)
		}
		return true
	}
	if !refresh() {
		return
	}
	b.markReady()
	if !b.waitStart(ctx) {
		return
	}
	for {
		if finished(st) {
			return
		}
		fired, ok := b.burstTurn(ctx)
		if !ok {
			return
		}
		amount, max, bid := b.choose(st, fired)
		if !bid {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			if !refresh() {
				return
			}
			continue
		}
		s := sentBid{Auction: b.auction, User: b.user, RequestID: b.nextRequestID(), Amount: amount, Max: max, Via: "http", At: time.Now()}
		body := map[string]string{"amount": amount, "request_id": s.RequestID}
		if max != "" {
			body["max_amount"] = max
		}
		b.l.noteSent()
		if fired {
			b.markSent()
		}
		var (
			ans    bidAnswer
			status int
			err    error
			code   string
		)
		for attempt := 1; ; attempt++ {
			rctx, cancel := context.WithTimeout(ctx, requestTimeout)
			ans = bidAnswer{}
			status, err = api.call(rctx, "POST", path+"/bids", b.user.Token, body, &ans)
			cancel()
			code = errorCode(err)
			if code != "unavailable" || attempt >= maxAttempts {
				break
			}
			// Retrying with the same request id is safe (see runWS).
			b.l.retried(code)
			if !pause(ctx, retryPause) {
				b.l.lostAnswer(s)
				return
			}
		}
		switch {
		case err == nil && status == 201 && ans.Bid.ID != 0:
			b.l.ack(s, ans.Bid.ID, ans.Leading)
			if ans.Auction.Seq > st.Seq {
				st = ans.Auction
				b.l.saw(st)
			}
		case err == nil:
			b.l.event("problem", b.name, "%s: status %d, bid %+v", s, status, ans.Bid)
			return
		case code == "bid_too_low":
			b.l.refuse(s, code)
			b.tooLow(amount)
			if !refresh() {
				return
			}
		case code == "auction_closed":
			b.l.refuse(s, code)
			return
		case code != "":
			b.endErr = err
			b.l.refuse(s, code)
			b.l.event("refused", b.name, "%s refused: %v", s, err)
			return
		default:
			b.endErr = err
			b.l.lostAnswer(s)
			b.l.event("ended", b.name, "%s: %v", s, err)
			return
		}
	}
}
