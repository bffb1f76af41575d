package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLoopBidder drives one bidder with two lanes over socket pairs, answering as a server
// would: the bid on the first lane is accepted, which sends the next bid on the second lane; a
// reply to another request there is counted as stray; then the second lane's connection ends
// while its bid is outstanding, which stops the bidder with that reason.
func TestLoopBidder(t *testing.T) {
	loop := startLoop(t)

	bd := &bidder{user: account{Name: "ann"}, rng: rand.New(rand.NewPCG(1, 2)), codes: map[string]int64{}}
	lb := &loopBidder{bd: bd, lanes: map[*lane]*loopLane{}}
	var servers [2]int
	for i := range servers {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = fds[1]
		defer unix.Close(fds[1])
		l := &lane{auction: int64(10 + i)}
		l.noteState(liveState{Seq: 1, MinNext: "10.00"})
		bd.lanes = append(bd.lanes, l)
		ll := &loopLane{lane: l, bidder: lb, fd: fds[0]}
		lb.lanes[l] = ll
		if err := loop.add(&epollConn{fd: fds[0], sink: ll}); err != nil {
			t.Fatal(err)
		}
	}
	g := &loopBidding{pool: &epollPool{loops: []*epollLoop{loop}}, bidders: map[*bidder]*loopBidder{bd: lb}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.bid(context.Background(), []*bidder{bd}, "run", time.Now().Add(time.Hour))
	}()

	first := readBid(t, servers[0])
	if first.RequestID != "run.0.0" || first.Amount != "10.00" {
		t.Fatalf("first bid %+v, want run.0.0 at 10.00", first)
	}
	mustWrite(t, servers[0], serverFrame(true, opText, []byte(`{"type":"bid_accepted","request_id":"run.0.0","bid":{"id":7,"amount":"10.00"},"leading":true}`)))
	second := readBid(t, servers[1])
	if second.RequestID != "run.0.1" || second.Amount != "10.00" {
		t.Fatalf("second bid %+v, want run.0.1 at 10.00 on the second lane", second)
	}
	mustWrite(t, servers[1], serverFrame(true, opText, []byte(`{"type":"bid_rejected","request_id":"other","error":{"code":"bid_too_low","message":"no"}}`)))
	waitFor(t, "the stray reply", func() bool { return bd.lanes[1].stray.Load() == 1 })
	unix.Close(servers[1])

	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the bidder did not stop when its lane ended")
	}
	if bd.err == nil || !strings.Contains(bd.err.Error(), "connection ended before the reply") {
		t.Errorf("bidder error %v, want the ended connection", bd.err)
	}
	if bd.sent.Load() != 2 || bd.accepted.Load() != 1 || bd.rejected.Load() != 0 || len(bd.lat) != 1 {
		t.Errorf("sent %d, accepted %d, rejected %d, %d latencies; want 2, 1, 0, 1", bd.sent.Load(), bd.accepted.Load(), bd.rejected.Load(), len(bd.lat))
	}
	if ids := bd.lanes[0].acceptedIDs; len(ids) != 1 || ids[0] != 7 {
		t.Errorf("accepted ids %v, want [7]", ids)
	}
	if got := bd.lanes[0].knownMin().StringFixed(2); got != "10.50" {
		t.Errorf("first lane's minimum after its accepted bid: %s, want 10.50", got)
	}
}

// startLoop runs an event loop with no batching wait until the test ends.
func startLoop(t *testing.T) *epollLoop {
	t.Helper()
	loop, err := newEpollLoop(0)
	if err != nil {
		t.Fatal(err)
	}
	go loop.run(time.Now())
	t.Cleanup(loop.stop)
	return loop
}

// readBid reads one bid frame a bidder sent.
func readBid(t *testing.T, fd int) bidMsg {
	t.Helper()
	f, size := unmaskFrame(t, readSome(t, fd))
	_, op, payload, n, err := nextFrame(f)
	if err != nil || n == 0 || op != opText || size == 0 {
		t.Fatalf("frame % x: op %d, %v", f, op, err)
	}
	var m bidMsg
	if err := json.Unmarshal(payload, &m); err != nil || m.Type != "bid" {
		t.Fatalf("bid message %q: %v", payload, err)
	}
	return m
}

// TestLoopBidderCancelled: a run cancelled while a bid waits for its reply stops its bidders
// with the context's error instead of waiting out replyTimeout.
func TestLoopBidderCancelled(t *testing.T) {
	loop := startLoop(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])

	bd := &bidder{user: account{Name: "bob"}, rng: rand.New(rand.NewPCG(3, 4)), codes: map[string]int64{}}
	lb := &loopBidder{bd: bd, lanes: map[*lane]*loopLane{}}
	l := &lane{auction: 5}
	l.noteState(liveState{Seq: 1, MinNext: "1.00"})
	bd.lanes = []*lane{l}
	ll := &loopLane{lane: l, bidder: lb, fd: fds[0]}
	lb.lanes[l] = ll
	if err := loop.add(&epollConn{fd: fds[0], sink: ll}); err != nil {
		t.Fatal(err)
	}
	g := &loopBidding{pool: &epollPool{loops: []*epollLoop{loop}}, bidders: map[*bidder]*loopBidder{bd: lb}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.bid(ctx, []*bidder{bd}, "run", time.Now().Add(time.Hour)) }()

	readBid(t, fds[1]) // the bid is out; its reply never comes
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the bidder did not stop when the run was cancelled")
	}
	if !errors.Is(bd.err, context.Canceled) {
		t.Errorf("bidder error %v, want context.Canceled", bd.err)
	}
	if bd.sent.Load() != 1 || bd.accepted.Load()+bd.rejected.Load() != 0 {
		t.Errorf("sent %d, answered %d; want 1, 0", bd.sent.Load(), bd.accepted.Load()+bd.rejected.Load())
	}
}
