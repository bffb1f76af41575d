package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"
)

// The fanout scenario: W watchers on one auction while two bidders, taking turns so that every
// bid is accepted, raise the price R times a second. For each price change the bench measures,
// per watcher, the delay from sending the bid to the watcher holding a state that includes it.
//
// The bid replies carry no seq, so a price change is identified by the auction's bid_count: the
// k-th accepted bid is the one that makes bid_count k (only this run bids on the auction), and
// bid_count, like seq, never decreases along the states a watcher receives. A watcher that jumps
// from bid_count 3 to 6 (conflation) gets delays for changes 4, 5 and 6 at that moment, and has
// skipped 2 states.

// watcher is one anonymous connection following the auction, read by a watcherPool.
type watcher struct {
	// The newest state seen; read by the main goroutine while the reader runs.
	seq   atomic.Int64
	count atomic.Int64
	price atomic.Pointer[string]
	// endCode is the close code the server sent (or -1 for a broken connection) when the
	// connection ended before the bench closed it; 0 otherwise.
	endCode atomic.Int64

	// Reader-only until the pool is closed. recv[i] is when the watcher first held a state
	// with bid_count >= first+i, as time since the run's t0.
	first                       int64
	recv                        []time.Duration
	states, skipped, badAmounts int64
}

// connectWatchers opens n anonymous watchers on the auction through pool, at most concurrency
// at a time. It reports how long connecting took.
func (b *bench) connectWatchers(ctx context.Context, auctionID int64, n, concurrency int, pool watcherPool) ([]*watcher, time.Duration, error) {
	watchers := make([]*watcher, n)
	var connected atomic.Int64
	b.prog.set(func() string { return fmt.Sprintf("connecting watchers %d/%d", connected.Load(), n) })
	start := time.Now()
	err := parallel(ctx, n, concurrency, func(ctx context.Context, i int) error {
		w, err := pool.open(ctx, auctionID)
		if err != nil {
			return err
		}
		watchers[i] = w
		connected.Add(1)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("connect watchers: %w", err)
	}
	return watchers, time.Since(start), nil
}

func newWatcher(s liveState) *watcher {
	w := &watcher{first: s.BidCount + 1}
	w.seq.Store(s.Seq)
	w.count.Store(s.BidCount)
	p := s.Price
	w.price.Store(&p)
	return w
}

// onEnd records the code the server ended the connection with.
func (w *watcher) onEnd(code int64) { w.endCode.Store(code) }

// onMessage follows one message received at now (since t0).
func (w *watcher) onMessage(b []byte, now time.Duration) {
	m, err := parseLive(b)
	if err != nil || !m.HasState {
		return
	}
	s := m.State
	w.states++
	if s.Price != "" && !isWireAmount(s.Price) {
		w.badAmounts++
	}
	if s.Seq > w.seq.Load() {
		p := s.Price
		w.price.Store(&p)
		w.seq.Store(s.Seq)
	}
	last := w.count.Load()
	if s.BidCount <= last {
		return
	}
	for n := last + 1; n <= s.BidCount; n++ {
		w.recv = append(w.recv, now)
	}
	w.skipped += s.BidCount - last - 1
	w.count.Store(s.BidCount)
}

func (b *bench) runFanout(ctx context.Context) (*Result, error) {
	cfg := b.cfg
	if cfg.Watchers < 1 || cfg.Rate <= 0 {
		return nil, fmt.Errorf("-watchers must be at least 1 and -rate above 0")
	}
	if err := checkFileLimit(cfg.Watchers + 2); err != nil {
		return nil, err
	}
	res := &Result{Scenario: "fanout", URL: cfg.URL, Started: time.Now()}
	res.param("watchers", "watchers", cfg.Watchers, "")
	res.param("rate", "target price changes", cfg.Rate, "/s")
	res.param("duration_s", "duration", cfg.Duration.Seconds(), "s")

	rssBefore := b.serverRSS(ctx)
	auctions, err := b.newAuctions(ctx, 1)
	if err != nil {
		return nil, err
	}
	auctionID := auctions[0].ID
	if err := b.probeLive(ctx, auctionID); err != nil {
		return nil, err
	}
	users, err := b.signUpMany(ctx, "bidder", 2)
	if err != nil {
		return nil, fmt.Errorf("set up bidders: %w", err)
	}

	maxChanges := int(math.Ceil(cfg.Rate*cfg.Duration.Seconds())) + 16
	// sendAt[n] is when the bid that made bid_count n was sent, as time since t0; written by
	// the bidding loop only and read once every reader has ended.
	sendAt := make([]time.Duration, maxChanges+1)
	t0 := time.Now()

	var live connSet
	defer live.closeAll()

	// The two bidders.
	lanes := make([]*lane, 2)
	var count int64 // bid_count: the snapshot's, then one more per accepted bid
	for i, u := range users {
		c, snap, err := b.ws.dial(ctx, auctionID, u.Token)
		if err != nil {
			return nil, fmt.Errorf("connect bidder: %w", err)
		}
		live.add(c)
		l := &lane{auction: auctionID, conn: c, replies: make(chan bidReply, 16), endSig: make(chan struct{})}
		l.noteState(snap)
		count = snap.BidCount
		lanes[i] = l
		live.readers.Add(1)
		go l.readLoop(&live.readers)
	}

	// The watchers.
	pool, err := b.newWatcherPool(t0)
	if err != nil {
		return nil, err
	}
	defer pool.closeAll()
	watchers, connectTime, err := b.connectWatchers(ctx, auctionID, cfg.Watchers, cfg.DialConcurrency, pool)
	if err != nil {
		return nil, err
	}
	b.prog.logf("%d watchers connected in %s", cfg.Watchers, connectTime.Round(time.Millisecond))

	// Let the storm of watcher-count states die down before measuring.
	if a, err := b.api.auction(ctx, auctionID); err == nil {
		if n := b.waitWatchers(ctx, watchers, a.Seq, 15*time.Second, "waiting for watchers to catch up"); n < len(watchers) {
			res.note("%d of %d watchers had not caught up with the state before bidding started", len(watchers)-n, len(watchers))
		}
	}

	// Bid: take turns, one bid outstanding, at most Rate bids a second.
	var (
		ack             []time.Duration
		accepted        atomic.Int64 // read by the progress line
		sentN, rejected int64
		rejectedInARow  int
		codes           = map[string]int64{}
		lastAmount      string
		localMin        decimal.Decimal
		bidErr          error
		interval        = time.Duration(float64(time.Second) / cfg.Rate)
		timer           = time.NewTimer(replyTimeout)
		cpuFrom         = b.cpuNow()
		start           = time.Now()
		deadline, next  = start.Add(cfg.Duration), start
	)
	defer timer.Stop()
	b.prog.set(func() string {
		return fmt.Sprintf("raising the price %.0fs/%.0fs: %d changes", time.Since(start).Seconds(), cfg.Duration.Seconds(), accepted.Load())
	})
	for turn := 0; ctx.Err() == nil && count+1 < int64(len(sendAt)); turn++ {
		if wait := time.Until(next); wait > 0 {
			if sleepCtx(ctx, min(wait, time.Until(deadline))) != nil {
				break
			}
		}
		now := time.Now()
		if !now.Before(deadline) {
			break
		}
		l := lanes[turn%2]
		amount := decimal.Max(localMin, lanes[0].knownMin(), lanes[1].knownMin())
		msg := bidMsg{Type: "bid", RequestID: fmt.Sprintf("%s.f.%d", b.runID, turn), Amount: formatAmount(amount)}
		payload, _ := json.Marshal(msg)
		sendAt[count+1] = time.Since(t0)
		sent := time.Now()
		if err := l.conn.send(payload); err != nil {
			bidErr = fmt.Errorf("send a bid: %s", netReason(err))
			break
		}
		sentN++
		timer.Reset(replyTimeout)
		r, err := awaitReply(ctx, l, msg.RequestID, timer)
		if err != nil {
			bidErr = err
			break
		}
		ack = append(ack, time.Since(sent))
		if r.Type == "bid_accepted" {
			accepted.Add(1)
			count++
			lastAmount = msg.Amount
			localMin = nextAfter(amount)
			rejectedInARow = 0
		} else {
			rejected++
			codes[r.Error.Code]++
			if rejectedInARow++; rejectedInARow > 20 {
				bidErr = fmt.Errorf("the last 20 bids were rejected (%s: %s)", r.Error.Code, r.Error.Message)
				break
			}
		}
		next = next.Add(interval)
		if next.Before(now) {
			next = now
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // interrupted or out of time: no trustworthy result
	}
	res.Measured = time.Since(start)
	cpuTo := b.cpuNow()
	rssAfter := b.serverRSS(ctx)

	// The final state: the API's, which every watcher should hold.
	final, ferr := b.api.auction(ctx, auctionID)
	reached := 0
	if ferr == nil {
		reached = b.waitWatchers(ctx, watchers, final.Seq, max(10*time.Second, cfg.Settle), "waiting for watchers to reach the final state")
		if again, err := b.api.auction(ctx, auctionID); err == nil && again.Seq != final.Seq {
			final = again
			reached = b.waitWatchers(ctx, watchers, final.Seq, 5*time.Second, "waiting for watchers to reach the final state")
		}
	}
	onFinal := 0
	if ferr == nil {
		for _, w := range watchers {
			if w.seq.Load() == final.Seq && *w.price.Load() == final.price() {
				onFinal++
			}
		}
	}
	live.closeAll()
	pool.closeAll() // the watchers' readers end here, so their own fields may be read below

	// Delays per (watcher, change), and per change the spread from the first watcher to hold it
	// to the last.
	var lat []time.Duration
	firstRecv := make([]time.Duration, len(sendAt))
	lastRecv := make([]time.Duration, len(sendAt))
	var states, skipped, maxSkipped, unattributed, badAmounts, dropped int64
	for _, w := range watchers {
		for i, r := range w.recv {
			n := w.first + int64(i)
			if n >= int64(len(sendAt)) || n > count || sendAt[n] == 0 {
				unattributed++
				continue
			}
			lat = append(lat, r-sendAt[n])
			if firstRecv[n] == 0 || r < firstRecv[n] {
				firstRecv[n] = r
			}
			lastRecv[n] = max(lastRecv[n], r)
		}
		states += w.states
		skipped += w.skipped
		maxSkipped = max(maxSkipped, w.skipped)
		badAmounts += w.badAmounts
		if w.endCode.Load() != 0 {
			dropped++
		}
	}
	for _, l := range lanes {
		badAmounts += l.badAmounts.Load()
	}
	nAccepted := accepted.Load()
	nW := float64(len(watchers))
	secs := res.Measured.Seconds()
	res.metric("connect_seconds", "time to connect all watchers", connectTime.Seconds(), "s")
	res.metric("price_changes", "price changes (accepted bids)", nAccepted, "")
	res.metric("price_changes_per_s", "price changes/s achieved", float64(nAccepted)/secs, "")
	res.metric("deliveries", "(watcher, change) delays measured", len(lat), "")
	res.metric("states_per_watcher", "states received per watcher (mean)", float64(states)/nW, "")
	res.metric("skipped_total", "intermediate states skipped, total", skipped, "")
	res.metric("skipped_per_watcher", "intermediate states skipped per watcher (mean)", float64(skipped)/nW, "")
	res.metric("skipped_max", "intermediate states skipped by one watcher (max)", maxSkipped, "")
	if ferr == nil {
		res.metric("final_price", "final price", final.price(), "")
		res.metric("final_seq", "final seq", final.Seq, "")
	}
	var spread []time.Duration
	for n := range sendAt {
		if firstRecv[n] > 0 {
			spread = append(spread, lastRecv[n]-firstRecv[n])
		}
	}
	res.latency("delivery", "bid sent → watcher has it", lat)
	res.latency("spread", "first → last watcher, per change", spread)
	res.latency("ack", "bidder ack (send → reply)", ack)
	res.Rejections = codes

	res.check("every bid answered", bidErr == nil, "%d sent, %d answered%s", sentN, nAccepted+rejected, errSuffix(bidErr))
	res.check("every price change accepted", rejected == 0, "%d rejected", rejected)
	if ferr != nil {
		res.check("final state matches the last bid", false, "GET the auction: %v", ferr)
	} else {
		res.check("final state matches the last bid", final.BidCount == count && final.price() == lastAmount,
			"bid_count %d (want %d), current_price %s (want %s)", final.BidCount, count, final.price(), lastAmount)
		res.check("every watcher ends on the final state", onFinal == len(watchers),
			"%d of %d watchers hold seq %d at price %s (%d reached the seq)", onFinal, len(watchers), final.Seq, final.price(), reached)
	}
	want := int64(len(watchers)) * nAccepted
	res.check("every change reached every watcher (directly or conflated)", int64(len(lat)) == want && unattributed == 0,
		"%d of %d (watcher, change) pairs; %d state changes not made by this run", len(lat), want, unattributed)
	achieved := float64(nAccepted) / secs
	res.check("bidding kept the target rate (≥ 90%)", achieved >= 0.9*cfg.Rate,
		"%.2f of %.2f price changes/s; bidder ack p50 %s", achieved, cfg.Rate, fmtDuration(Summarize(ack).P50))
	checkRateLimited(res, codes)
	res.check("no watcher dropped by the server", dropped == 0, "%d of %d dropped", dropped, len(watchers))
	res.check("amounts have two decimals", badAmounts == 0, "%d malformed amounts in states", badAmounts)
	b.addCPU(res, cpuFrom, cpuTo)
	b.addRSS(res, rssBefore, rssAfter, 0)
	return res, nil
}

// waitWatchers waits until every watcher still connected holds seq or newer, or timeout; it
// returns how many do.
func (b *bench) waitWatchers(ctx context.Context, ws []*watcher, seq int64, timeout time.Duration, what string) int {
	count := func() int {
		n := 0
		for _, w := range ws {
			if w.seq.Load() >= seq {
				n++
			}
		}
		return n
	}
	b.prog.set(func() string { return fmt.Sprintf("%s: %d/%d", what, count(), len(ws)) })
	end := time.Now().Add(timeout)
	for {
		n := count()
		if n == len(ws) || !time.Now().Before(end) || sleepCtx(ctx, 20*time.Millisecond) != nil {
			return n
		}
	}
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}
