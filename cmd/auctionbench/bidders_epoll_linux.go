package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// loopBidding drives bidders from the event loops that read their lanes. Each bidder lives on
// one loop: the reply to its bid is read there, and its next bid is written there at once. A
// goroutine per lane and per bidder cost the bench, per bid, a netpoll wake-up and a second
// read that finds nothing on each lane a frame arrived on, and a goroutine switch to hand the
// reply to its bidder; under many that was over 40 µs of CPU per bid on the server's cores.
type loopBidding struct {
	pool *epollPool

	mu      sync.Mutex // guards bidders while lanes connect in parallel
	bidders map[*bidder]*loopBidder
}

// bidderBatchWait is how long a bidder loop that found few ready sockets waits before it looks
// again. Every bid in flight pays it (the ack latency can only look longer, by at most this),
// so it is shorter than the watchers' wait; under many it cut the bench's CPU per bid by a
// seventh (41 → 35 µs) with no loss of throughput.
const bidderBatchWait = 200 * time.Microsecond

func newLoopBidding(d *wsDialer, t0 time.Time) (biddingIO, error) {
	pool, err := newLoops(d, t0, bidderBatchWait)
	if err != nil {
		return nil, err
	}
	return &loopBidding{pool: pool, bidders: map[*bidder]*loopBidder{}}, nil
}

func (g *loopBidding) name() string { return watcherIOEpoll }

func (g *loopBidding) connect(ctx context.Context, l *lane, bd *bidder) (liveState, error) {
	lb := g.bidderFor(bd)
	ll := &loopLane{lane: l, bidder: lb}
	snap, fd, err := g.pool.attach(ctx, l.auction, bd.user.Token, lb.loop, func(liveState) frameSink { return ll })
	if err != nil {
		return liveState{}, err
	}
	if fd < 0 {
		return liveState{}, fmt.Errorf("auction %d: the server ended the connection after its snapshot: %s", l.auction, describeEnd(l.endCode.Load()))
	}
	ll.fd = fd
	g.mu.Lock()
	lb.lanes[l] = ll
	g.mu.Unlock()
	return snap, nil
}

// bidderFor returns bd's loop bidder, made on its first lane.
func (g *loopBidding) bidderFor(bd *bidder) *loopBidder {
	g.mu.Lock()
	defer g.mu.Unlock()
	lb := g.bidders[bd]
	if lb == nil {
		lb = &loopBidder{bd: bd, loop: bd.idx % len(g.pool.loops), lanes: map[*lane]*loopLane{}}
		g.bidders[bd] = lb
	}
	return lb
}

// watchdogEvery is how often bids are checked against replyTimeout.
const watchdogEvery = time.Second

func (g *loopBidding) bid(ctx context.Context, bidders []*bidder, runID string, deadline time.Time) {
	var wg sync.WaitGroup
	onLoop := make([][]*loopBidder, len(g.pool.loops))
	g.mu.Lock()
	for _, bd := range bidders {
		lb := g.bidders[bd]
		if lb == nil {
			continue // connect failed and the run is over
		}
		lb.runID, lb.deadline, lb.done = runID, deadline, wg.Done
		onLoop[lb.loop] = append(onLoop[lb.loop], lb)
		wg.Add(1)
	}
	g.mu.Unlock()
	each := func(fn func(lb *loopBidder)) {
		for i, lbs := range onLoop {
			g.pool.loops[i].do(func() {
				for _, lb := range lbs {
					fn(lb)
				}
			})
		}
	}
	each((*loopBidder).next)

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(watchdogEvery)
	defer tick.Stop()
	cancelled := ctx.Done()
	for {
		select {
		case <-finished:
			return
		case <-cancelled:
			each(func(lb *loopBidder) { lb.finish(ctx.Err()) })
			cancelled = nil // every bidder is finished; wait for finished alone
		case now := <-tick.C:
			each(func(lb *loopBidder) { lb.checkTimeout(now) })
		}
	}
}

func (g *loopBidding) close() { g.pool.closeAll() }

// loopBidder is one bidder driven by its loop. After the lanes connect, only that loop's
// goroutine (or a function it runs through do) touches it.
type loopBidder struct {
	bd    *bidder
	loop  int
	lanes map[*lane]*loopLane

	runID    string
	deadline time.Time
	done     func() // called once, when the bidder stops

	n        int    // bids sent
	out      outBid // the bid outstanding, while pending
	sentAt   time.Time
	pending  bool
	finished bool
	frame    []byte
}

// next sends the bidder's next bid, or stops it at the deadline.
func (lb *loopBidder) next() {
	if lb.finished {
		return
	}
	if !time.Now().Before(lb.deadline) {
		lb.finish(nil)
		return
	}
	b := lb.bd.prepare(lb.runID, lb.n)
	lb.n++
	var mask [4]byte
	for i, v := 0, lb.bd.rng.Uint32(); i < 4; i, v = i+1, v>>8 {
		mask[i] = byte(v)
	}
	lb.frame = appendMaskedFrame(lb.frame[:0], opText, b.payload, mask)
	lb.sentAt = time.Now()
	n, err := unix.Write(lb.lanes[b.lane].fd, lb.frame)
	if err == nil && n < len(lb.frame) {
		err = io.ErrShortWrite // the socket's send buffer is full: the server is not reading
	}
	if err != nil {
		lb.finish(fmt.Errorf("bidder %s: %w", lb.bd.user.Name, b.sendError(err)))
		return
	}
	lb.bd.sent.Add(1)
	lb.out, lb.pending = b, true
}

// onReply takes a reply read on ll: the answer to the outstanding bid is counted and the next
// bid sent.
func (lb *loopBidder) onReply(ll *loopLane, r bidReply) {
	switch {
	case !lb.pending:
		if r.Type != "error" {
			ll.lane.stray.Add(1)
		}
	case r.Type == "error":
		lb.fail(errorReply(r))
	case r.RequestID != lb.out.requestID || ll.lane != lb.out.lane:
		ll.lane.stray.Add(1)
	default:
		lb.pending = false
		lb.bd.record(lb.out, r, time.Since(lb.sentAt))
		lb.next()
	}
}

// laneEnded stops the bidder if the lane that ended owed it a reply.
func (lb *loopBidder) laneEnded(ll *loopLane, code int64) {
	if lb.pending && lb.out.lane == ll.lane {
		lb.fail(fmt.Errorf("connection ended before the reply: %s", describeEnd(code)))
	}
}

func (lb *loopBidder) checkTimeout(now time.Time) {
	if lb.pending && now.Sub(lb.sentAt) > replyTimeout {
		lb.fail(fmt.Errorf("no reply to request %s within %s", lb.out.requestID, replyTimeout))
	}
}

// fail stops the bidder with err about its outstanding bid.
func (lb *loopBidder) fail(err error) {
	lb.finish(fmt.Errorf("bidder %s on auction %d: %w", lb.bd.user.Name, lb.out.lane.auction, err))
}

// finish stops the bidder once, keeping err (nil: it reached the deadline).
func (lb *loopBidder) finish(err error) {
	if lb.finished {
		return
	}
	lb.finished, lb.pending = true, false
	lb.bd.err = err
	lb.done()
}

// loopLane is a lane whose socket a loop reads.
type loopLane struct {
	lane   *lane
	bidder *loopBidder
	fd     int
}

func (ll *loopLane) onMessage(payload []byte, _ time.Duration) {
	if r, ok := ll.lane.classify(payload); ok {
		ll.bidder.onReply(ll, r)
	}
}

func (ll *loopLane) onEnd(code int64) {
	ll.lane.endCode.Store(code)
	ll.bidder.laneEnded(ll, code)
}
