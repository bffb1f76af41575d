package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// The hot and many scenarios: bidders hammer auctions over WebSockets, each with one bid
// outstanding at a time, each bid at the newest minimum the bidder knows.
//
// A bidder is one user. It has one connection ("lane") per auction it bids on and goes round
// the lanes: bid on the first, wait for the reply, bid on the next, and so on. In hot every
// bidder has one lane to the one auction. In many, bidder i takes the A auctions starting at
// i*A (wrapping), A = ceil(2*auctions/bidders) unless -auctions-per-bidder says otherwise, so
// that every auction has at least two competing bidders. Connections: bidders × A.

// replyTimeout bounds the wait for one bid's reply; a server that takes longer has failed.
const replyTimeout = 30 * time.Second

// bidMsg is the client's bid message.
type bidMsg struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Amount    string `json:"amount"`
	MaxAmount string `json:"max_amount,omitempty"`
}

// bidReply is bid_accepted or bid_rejected.
type bidReply struct {
	Type      string `json:"type"`
	RequestID string `json:"request_id"`
	Bid       struct {
		ID     int64  `json:"id"`
		Amount string `json:"amount"`
	} `json:"bid"`
	Leading bool `json:"leading"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// lane is one bidder's connection to one auction.
type lane struct {
	auction int64
	// With -bidder-io goroutine only (an event loop reads the lane otherwise): the connection,
	// where its reader puts replies (the bidder's channel in hot and many), and what it closes
	// when it ends.
	conn    *liveConn
	replies chan bidReply
	endSig  chan struct{}

	mu      sync.Mutex
	seq     int64
	minNext decimal.Decimal

	states, outbids, errorMsgs, badAmounts, stray atomic.Int64
	// endCode is the close code the server sent (or -1 for a broken connection) when the
	// connection ended before the bench closed it; 0 otherwise.
	endCode atomic.Int64

	// Written only by what drives the bidder (its goroutine or its event loop), read after
	// bidding ends.
	acceptedIDs []int64
}

// noteState keeps what a state says about the minimum next bid. The price never falls, so the
// largest minimum seen (from states or implied by accepted bids) is the best lower bound.
func (l *lane) noteState(s liveState) {
	l.states.Add(1)
	d, err := parseWireAmount(s.MinNext)
	if err != nil || (s.Price != "" && !isWireAmount(s.Price)) {
		l.badAmounts.Add(1)
		return
	}
	l.mu.Lock()
	if s.Seq > l.seq {
		l.seq = s.Seq
	}
	if d.GreaterThan(l.minNext) {
		l.minNext = d
	}
	l.mu.Unlock()
}

// noteAccepted raises the known minimum after an accepted bid of amount a: whatever the proxy
// rules did, the price is now at least a, so the next bid is at least a + increment(a).
func (l *lane) noteAccepted(a decimal.Decimal) {
	n := nextAfter(a)
	l.mu.Lock()
	if n.GreaterThan(l.minNext) {
		l.minNext = n
	}
	l.mu.Unlock()
}

func (l *lane) knownMin() decimal.Decimal {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.minNext
}

// readLoop reads the lane until it ends: states update the known minimum, replies go to the
// bidder.
func (l *lane) readLoop(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		b, err := l.conn.read()
		if err != nil {
			l.conn.ended(err)
			l.endCode.Store(l.conn.endCode.Load())
			close(l.endSig)
			return
		}
		r, ok := l.classify(b)
		if !ok {
			continue
		}
		select {
		case l.replies <- r:
		default:
			if r.Type != "error" {
				l.stray.Add(1)
			}
		}
	}
}

// classify counts what a message tells the lane (states raise the known minimum) and returns
// it as a reply when it answers a bid: bid_accepted, bid_rejected, or an error message, which
// with one bid outstanding is about that bid.
func (l *lane) classify(b []byte) (bidReply, bool) {
	m, err := parseLive(b)
	if err != nil {
		l.errorMsgs.Add(1)
		return bidReply{}, false
	}
	switch m.Type {
	case "snapshot", "auction":
		if m.HasState {
			l.noteState(m.State)
		}
	case "bid_accepted", "bid_rejected":
		r, err := parseReply(b)
		if err != nil {
			l.errorMsgs.Add(1)
			return bidReply{}, false
		}
		return r, true
	case "outbid":
		l.outbids.Add(1)
	case "error":
		l.errorMsgs.Add(1)
		if r, err := parseReply(b); err == nil {
			return r, true
		}
	}
	return bidReply{}, false
}

// bidder is one user bidding over its lanes.
type bidder struct {
	idx      int
	user     account
	lanes    []*lane
	sendsMax bool // sends max_amount a few increments above amount
	replies  chan bidReply
	rng      *rand.Rand

	sent, accepted, rejected atomic.Int64
	lat                      []time.Duration
	codes                    map[string]int64
	err                      error
}

// run bids until the deadline, one bid outstanding at a time.
func (bd *bidder) run(ctx context.Context, runID string, deadline time.Time) {
	timer := time.NewTimer(replyTimeout)
	defer timer.Stop()
	for n := 0; ctx.Err() == nil && time.Now().Before(deadline); n++ {
		b := bd.prepare(runID, n)
		start := time.Now()
		if err := b.lane.conn.send(b.payload); err != nil {
			bd.err = fmt.Errorf("bidder %s: %w", bd.user.Name, b.sendError(err))
			return
		}
		bd.sent.Add(1)
		timer.Reset(replyTimeout)
		r, err := awaitReply(ctx, b.lane, b.requestID, timer)
		if err != nil {
			bd.err = fmt.Errorf("bidder %s on auction %d: %w", bd.user.Name, b.lane.auction, err)
			return
		}
		bd.record(b, r, time.Since(start))
	}
}

// outBid is one bid a bidder sends.
type outBid struct {
	lane      *lane
	requestID string
	amount    decimal.Decimal
	payload   []byte // the JSON message
}

// prepare makes the bidder's bid number n: on its next lane, at the newest minimum that lane
// knows, with a maximum a few increments higher if the bidder sends maximums.
func (bd *bidder) prepare(runID string, n int) outBid {
	l := bd.lanes[n%len(bd.lanes)]
	amount := l.knownMin()
	msg := bidMsg{Type: "bid", RequestID: runID + "." + strconv.Itoa(bd.idx) + "." + strconv.Itoa(n), Amount: formatAmount(amount)}
	if bd.sendsMax {
		msg.MaxAmount = formatAmount(stepsAbove(amount, 2+bd.rng.IntN(3)))
	}
	payload, _ := json.Marshal(msg)
	return outBid{lane: l, requestID: msg.RequestID, amount: amount, payload: payload}
}

// sendError explains a failed send of b.
func (b outBid) sendError(err error) error {
	return fmt.Errorf("send a bid on auction %d: %s", b.lane.auction, netReason(err))
}

// record counts the reply r to bid b, answered after lat.
func (bd *bidder) record(b outBid, r bidReply, lat time.Duration) {
	bd.lat = append(bd.lat, lat)
	if r.Type == "bid_accepted" {
		bd.accepted.Add(1)
		b.lane.acceptedIDs = append(b.lane.acceptedIDs, r.Bid.ID)
		b.lane.noteAccepted(b.amount)
		return
	}
	bd.rejected.Add(1)
	code := r.Error.Code
	if code == "" {
		code = "(no code)"
	}
	bd.codes[code]++
}

// errorReply is the error a bid answered with an error message stands for.
func errorReply(r bidReply) error {
	return fmt.Errorf("the server answered the bid with an error message: %s: %s", r.Error.Code, r.Error.Message)
}

// awaitReply waits for the reply to requestID on a lane, skipping replies to other ids.
func awaitReply(ctx context.Context, l *lane, requestID string, timer *time.Timer) (bidReply, error) {
	for {
		select {
		case r := <-l.replies:
			if r.Type == "error" {
				return bidReply{}, errorReply(r)
			}
			if r.RequestID == requestID {
				return r, nil
			}
			l.stray.Add(1)
		case <-l.endSig:
			return bidReply{}, fmt.Errorf("connection ended before the reply: %s", describeEnd(l.endCode.Load()))
		case <-timer.C:
			return bidReply{}, fmt.Errorf("no reply to request %s within %s", requestID, replyTimeout)
		case <-ctx.Done():
			return bidReply{}, ctx.Err()
		}
	}
}

// describeEnd says how a connection ended from its end code.
func describeEnd(code int64) string {
	switch code {
	case 0:
		return "closed"
	case -1:
		return "connection broken"
	default:
		return fmt.Sprintf("closed by the server with code %d", code)
	}
}

// runBidding is hot (auctions == 1) and many.
func (b *bench) runBidding(ctx context.Context, scenario string, nAuctions int) (*Result, error) {
	cfg := b.cfg
	if cfg.Bidders < 1 {
		return nil, fmt.Errorf("-bidders must be at least 1")
	}
	if nAuctions < 1 {
		return nil, fmt.Errorf("-auctions must be at least 1")
	}
	perBidder := 1
	if nAuctions > 1 {
		perBidder = cfg.AuctionsPerBidder
		if perBidder <= 0 {
			perBidder = (2*nAuctions + cfg.Bidders - 1) / cfg.Bidders
		}
		perBidder = min(perBidder, nAuctions)
	}
	nConns := cfg.Bidders * perBidder
	if err := checkFileLimit(nConns); err != nil {
		return nil, err
	}

	res := &Result{Scenario: scenario, URL: cfg.URL, Started: time.Now()}
	res.param("bidders", "bidders", cfg.Bidders, "")
	res.param("auctions", "auctions", nAuctions, "")
	if nAuctions > 1 {
		res.param("auctions_per_bidder", "auctions per bidder (one connection each)", perBidder, "")
	}
	res.param("connections", "bidding connections", nConns, "")
	res.param("max_fraction", "fraction of bidders sending max_amount", cfg.MaxFraction, "")
	res.param("duration_s", "duration", cfg.Duration.Seconds(), "s")

	rssBefore := b.serverRSS(ctx)

	auctions, err := b.newAuctions(ctx, nAuctions)
	if err != nil {
		return nil, err
	}
	if err := b.probeLive(ctx, auctions[0].ID); err != nil {
		return nil, err
	}
	users, err := b.signUpMany(ctx, "bidder", cfg.Bidders)
	if err != nil {
		return nil, fmt.Errorf("set up bidders: %w", err)
	}

	// Bidders and their lanes.
	nMax := int(cfg.MaxFraction*float64(cfg.Bidders) + 0.5)
	bidders := make([]*bidder, cfg.Bidders)
	var lanes []*lane
	for i := range bidders {
		bd := &bidder{
			idx: i, user: users[i], sendsMax: i < nMax,
			replies: make(chan bidReply, 16),
			rng:     rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))),
			codes:   map[string]int64{},
		}
		for k := 0; k < perBidder; k++ {
			a := auctions[(i*perBidder+k)%nAuctions]
			l := &lane{auction: a.ID, replies: bd.replies, endSig: make(chan struct{})}
			bd.lanes = append(bd.lanes, l)
			lanes = append(lanes, l)
		}
		bidders[i] = bd
	}

	// Connect every lane, at most DialConcurrency at a time; each starts reading at once.
	bio, err := b.newBiddingIO(time.Now())
	if err != nil {
		return nil, err
	}
	defer bio.close()
	res.param("bidder_io", "bidders read by", bio.name(), "")
	var connected atomic.Int64
	b.prog.set(func() string { return fmt.Sprintf("connecting bidders %d/%d", connected.Load(), len(lanes)) })
	err = parallel(ctx, len(lanes), cfg.DialConcurrency, func(ctx context.Context, i int) error {
		l := lanes[i]
		snap, err := bio.connect(ctx, l, bidders[i/perBidder])
		if err != nil {
			return err
		}
		if snap.Status != "open" {
			return fmt.Errorf("auction %d is %q, not open", l.auction, snap.Status)
		}
		l.noteState(snap)
		connected.Add(1)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("connect bidders: %w", err)
	}
	b.prog.logf("%d bidders connected over %d connections; bidding for %s", cfg.Bidders, len(lanes), cfg.Duration)

	// Bid.
	cpuFrom := b.cpuNow()
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	biddingDone := make(chan struct{})
	go func() { defer close(biddingDone); bio.bid(ctx, bidders, b.runID, deadline) }()
	b.prog.set(func() string {
		var acc, rej int64
		for _, bd := range bidders {
			acc += bd.accepted.Load()
			rej += bd.rejected.Load()
		}
		return fmt.Sprintf("bidding %.0fs/%.0fs: %d processed, %d accepted", time.Since(start).Seconds(), cfg.Duration.Seconds(), acc+rej, acc)
	})
	<-biddingDone
	if err := ctx.Err(); err != nil {
		return nil, err // interrupted or out of time: no trustworthy result
	}
	measured := time.Since(start)
	res.Measured = measured
	cpuTo := b.cpuNow()
	rssAfter := b.serverRSS(ctx)

	// Gather.
	var lat []time.Duration
	var sent, accepted, rejected int64
	codes := map[string]int64{}
	var bidErrs []string
	for _, bd := range bidders {
		lat = append(lat, bd.lat...)
		sent += bd.sent.Load()
		accepted += bd.accepted.Load()
		rejected += bd.rejected.Load()
		for c, n := range bd.codes {
			codes[c] += n
		}
		if bd.err != nil {
			bidErrs = append(bidErrs, bd.err.Error())
		}
	}
	var states, outbids, errorMsgs, badAmounts, stray, dropped int64
	for _, l := range lanes {
		states += l.states.Load()
		outbids += l.outbids.Load()
		errorMsgs += l.errorMsgs.Load()
		badAmounts += l.badAmounts.Load()
		stray += l.stray.Load()
		if l.endCode.Load() != 0 {
			dropped++
		}
	}
	secs := measured.Seconds()
	res.metric("bids_sent", "bids sent", sent, "")
	res.metric("processed", "processed bids (accepted + rejected replies)", accepted+rejected, "")
	res.metric("accepted", "accepted bids", accepted, "")
	res.metric("processed_per_s", "processed bids/s", float64(accepted+rejected)/secs, "")
	res.metric("accepted_per_s", "accepted bids/s", float64(accepted)/secs, "")
	res.metric("states_received", "auction states received by bidders", states, "")
	res.metric("outbid_notices", "outbid notices", outbids, "")
	res.latency("ack", "ack (send → reply)", lat)
	res.Rejections = codes

	// Check against the API.
	b.prog.set(func() string { return "checking bid counts and bid lists" })
	b.checkBids(ctx, res, auctions, lanes)
	if nAuctions == 1 {
		if a, err := b.api.auction(ctx, auctions[0].ID); err == nil {
			res.metric("final_price", "final price", a.price(), "")
			res.metric("final_seq", "final seq", a.Seq, "")
		}
	}
	res.check("every bid answered", len(bidErrs) == 0 && sent == accepted+rejected,
		"%d sent, %d answered%s", sent, accepted+rejected, firstErrors(bidErrs))
	res.check("no unexpected messages", errorMsgs == 0 && stray == 0,
		"%d error/unparsable messages, %d replies to unknown request ids", errorMsgs, stray)
	checkRateLimited(res, codes)
	res.check("amounts have two decimals", badAmounts == 0, "%d malformed amounts in states", badAmounts)
	res.check("no connection dropped by the server", dropped == 0, "%d of %d dropped", dropped, len(lanes))
	b.addCPU(res, cpuFrom, cpuTo)
	b.addRSS(res, rssBefore, rssAfter, 0)
	return res, nil
}

// biddingIO connects a run's lanes and drives its bidders, each with one bid outstanding.
type biddingIO interface {
	// name says how lanes are read, for the report.
	name() string
	// connect opens lane l of bidder bd, reads its snapshot, and starts following the lane.
	connect(ctx context.Context, l *lane, bd *bidder) (liveState, error)
	// bid runs every bidder until deadline and returns when all have stopped.
	bid(ctx context.Context, bidders []*bidder, runID string, deadline time.Time)
	// close closes every lane and returns once none is read any more.
	close()
}

// newBiddingIO returns what -bidder-io asks for, chosen as for watchers.
func (b *bench) newBiddingIO(t0 time.Time) (biddingIO, error) {
	return chooseIO("-bidder-io", b.cfg.BidderIO,
		func() (biddingIO, error) { return newLoopBidding(b.ws, t0) },
		func() biddingIO { return &goroutineBidding{d: b.ws} })
}

// goroutineBidding reads each lane with a goroutine through the WebSocket library and runs each
// bidder on a goroutine of its own: any OS, ws:// and wss://.
type goroutineBidding struct {
	d   *wsDialer
	set connSet
}

func (g *goroutineBidding) name() string { return watcherIOGoroutine }

func (g *goroutineBidding) connect(ctx context.Context, l *lane, bd *bidder) (liveState, error) {
	c, snap, err := g.d.dial(ctx, l.auction, bd.user.Token)
	if err != nil {
		return liveState{}, err
	}
	g.set.add(c)
	l.conn = c
	g.set.readers.Add(1)
	go l.readLoop(&g.set.readers)
	return snap, nil
}

func (g *goroutineBidding) bid(ctx context.Context, bidders []*bidder, runID string, deadline time.Time) {
	var wg sync.WaitGroup
	for _, bd := range bidders {
		wg.Add(1)
		go func() { defer wg.Done(); bd.run(ctx, runID, deadline) }()
	}
	wg.Wait()
}

func (g *goroutineBidding) close() { g.set.closeAll() }

// checkBids compares each auction's bid_count and bid list with the bids accepted over the
// WebSockets.
func (b *bench) checkBids(ctx context.Context, res *Result, auctions []auctionView, lanes []*lane) {
	accepted := map[int64][]int64{}
	for _, l := range lanes {
		accepted[l.auction] = append(accepted[l.auction], l.acceptedIDs...)
	}
	var mu sync.Mutex
	var countBad, listBad, dupBad []string
	var total, stored int64
	err := parallel(ctx, len(auctions), setupConcurrency, func(ctx context.Context, i int) error {
		id := auctions[i].ID
		a, err := b.api.auction(ctx, id)
		if err != nil {
			return err
		}
		bids, err := b.api.bids(ctx, id)
		if err != nil {
			return err
		}
		mine := accepted[id]
		listed := make(map[int64]bool, len(bids))
		for _, bv := range bids {
			listed[bv.ID] = true
		}
		seen := make(map[int64]bool, len(mine))
		missing, dups := 0, 0
		for _, bid := range mine {
			if seen[bid] {
				dups++
			}
			seen[bid] = true
			if !listed[bid] {
				missing++
			}
		}
		mu.Lock()
		defer mu.Unlock()
		total += int64(len(mine))
		stored += a.BidCount
		if a.BidCount != int64(len(mine)) {
			countBad = append(countBad, fmt.Sprintf("auction %d: bid_count %d, accepted %d", id, a.BidCount, len(mine)))
		}
		if missing > 0 || int64(len(bids)) != a.BidCount {
			listBad = append(listBad, fmt.Sprintf("auction %d: %d accepted ids missing, %d listed, bid_count %d", id, missing, len(bids), a.BidCount))
		}
		if dups > 0 {
			dupBad = append(dupBad, fmt.Sprintf("auction %d: %d bid ids accepted twice", id, dups))
		}
		return nil
	})
	if err != nil {
		res.check("accepted bids = bid_count", false, "could not read the auctions: %v", err)
		return
	}
	res.check("accepted bids = bid_count", len(countBad) == 0, "%d accepted, bid_count total %d over %d auctions%s",
		total, stored, len(auctions), firstErrors(countBad))
	res.check("every accepted bid id listed in GET …/bids", len(listBad) == 0, "%d auctions differ%s", len(listBad), firstErrors(listBad))
	res.check("accepted bid ids are unique", len(dupBad) == 0, "%d auctions with duplicates%s", len(dupBad), firstErrors(dupBad))
}

// checkRateLimited fails the run when the server's rate limits refused bids: the numbers then
// measure the limiter, not the server.
func checkRateLimited(res *Result, codes map[string]int64) {
	n := codes["rate_limited"]
	detail := "none"
	if n > 0 {
		detail = fmt.Sprintf("%d bids refused with rate_limited: %s", n, rateLimitHint)
	}
	res.check("no bid rate-limited", n == 0, "%s", detail)
}

// firstErrors lists up to three messages after ": ".
func firstErrors(msgs []string) string {
	if len(msgs) == 0 {
		return ""
	}
	more := ""
	if len(msgs) > 3 {
		more = fmt.Sprintf(" (and %d more)", len(msgs)-3)
		msgs = msgs[:3]
	}
	return ": " + strings.Join(msgs, "; ") + more
}
