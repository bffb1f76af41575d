package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// shutdownBound is how long the binary may take to exit after SIGTERM.
const shutdownBound = 20 * time.Second

// TestGracefulShutdown runs the real binary on PostgreSQL with WebSocket watchers (anonymous
// and signed in), WebSocket and HTTP bidders bidding continuously, and a server-sent event
// stream, then sends SIGTERM and checks PROTOCOL.md §1's graceful stop:
//
//   - every WebSocket receives a close frame with code 1001 (going away);
//   - the event stream ends cleanly;
//   - the process exits with status 0 within shutdownBound;
//   - every bid acknowledged before the close is stored (checked after a restart, in the
//     database, in GET …/bids, and by replaying each auction's stored bids through the rules);
//   - once the stop has begun (the first close frame arrived), new connections are refused:
//     no new WebSocket or event stream gets a snapshot and no new bid is accepted.
func TestGracefulShutdown(t *testing.T) {
	dbURL := freshDatabase(t)
	srv := startBinary(t, "stopped by SIGTERM", dbURL)
	api := newAPIClient(t, srv.URL)

	accts := signUpAll(t, api, []string{"gs_seller", "gs_bidder0", "gs_bidder1", "gs_bidder2", "gs_bidder3", "gs_bidder4", "gs_bidder5", "gs_watcher"})
	seller, users, watcherAcct := accts[0], accts[1:7], accts[7]
	end := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	plans := []*auctionPlan{
		{Name: "graceful", Starting: "10", Extension: 120, EndsAt: end},
		{Name: "graceful-reserve", Starting: "10", Reserve: "30", Extension: 120, EndsAt: end},
	}
	for _, p := range plans {
		p.create(t, api, seller)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Watchers: two anonymous and one signed-in WebSocket per auction.
	type watcher struct {
		name string
		c    *wsConn
		msgs int
		done chan struct{}
	}
	var watchers []*watcher
	for _, p := range plans {
		for i, token := range []string{"", "", watcherAcct.Token} {
			c, err := dialLive(ctx, srv.URL, p.ID, token, 60*time.Second)
			if err != nil {
				t.Fatalf("e2e: watcher %d of %s: %v", i, p, err)
			}
			who := "anonymous"
			if token != "" {
				who = "signed-in"
			}
			w := &watcher{name: fmt.Sprintf("%s watcher %d of %s", who, i, p), c: c, done: make(chan struct{})}
			watchers = append(watchers, w)
			go func() {
				defer close(w.done)
				for range c.msgs {
					w.msgs++
				}
			}()
		}
	}
	defer func() {
		for _, w := range watchers {
			w.c.closeNow()
		}
	}()
	anyClosed := make(chan struct{})
	var anyClosedOnce sync.Once
	for _, w := range watchers {
		go func() {
			select {
			case <-w.done:
				anyClosedOnce.Do(func() { close(anyClosed) })
			case <-ctx.Done():
			}
		}()
	}

	// An event stream.
	sse := openEvents(ctx, srv.URL, plans[0].ID)
	if err := sse.waitSnapshot(requestTimeout); err != nil {
		t.Fatalf("e2e: event stream of %s: %v", plans[0], err)
	}

	// Bidders: three over WebSockets per auction, one over HTTP per auction.
	l := newLedger()
	var wsBidders, httpBidders []*bidder
	g := newGate(len(plans)*4, false)
	var wg sync.WaitGroup
	seed := uint64(time.Now().UnixNano())
	for pi, p := range plans {
		for i := range 3 {
			b := newBidder(fmt.Sprintf("gs-ws%d-%d", pi, i), users[(pi*3+i)%len(users)], p.ID, l, g, seed+uint64(pi*10+i))
			wsBidders = append(wsBidders, b)
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.runWS(ctx, srv.URL)
			}()
		}
		b := newBidder(fmt.Sprintf("gs-http%d", pi), users[(pi*3+4)%len(users)], p.ID, l, g, seed+uint64(100+pi))
		httpBidders = append(httpBidders, b)
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
	close(g.start)

	// Bid until a good number of bids is acknowledged.
	for deadline := time.Now().Add(30 * time.Second); l.ackCount() < 100; {
		if time.Now().After(deadline) {
			t.Fatalf("e2e: only %d bids acknowledged after 30 s of bidding: %s", l.ackCount(), l.summary())
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-srv.exited:
			t.Fatalf("e2e: the server exited while bidding: %v", srv.waitErr)
		}
	}

	sigAt := time.Now()
	srv.signal(syscall.SIGTERM)

	// From the first close frame on, nothing new may be served.
	probe := &refusalProbe{base: srv.URL, auction: plans[0].ID, bidder: users[5]}
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		select {
		case <-anyClosed:
		case <-srv.exited:
		case <-time.After(shutdownBound):
			return
		}
		probe.run(srv.exited, time.Now().Add(shutdownBound))
	}()

	code, exited := srv.waitExit(time.Until(sigAt.Add(shutdownBound)))
	exitAfter := time.Since(sigAt)
	if !exited {
		t.Errorf("e2e: HANG: the server still runs %s after SIGTERM; killing it", shutdownBound)
		srv.kill()
	} else {
		t.Logf("e2e: the server exited %s after SIGTERM with status %d", exitAfter.Round(time.Millisecond), code)
		if code != 0 {
			t.Errorf("e2e: the server exited with status %d after SIGTERM, want 0", code)
		}
	}

	// Every client has seen its connection end by now, or very soon.
	if !waitGroup(&wg, 15*time.Second) {
		cancel()
		if !waitGroup(&wg, 10*time.Second) {
			t.Fatalf("e2e: bidders still run 25 s after the server exited")
		}
	}
	for _, w := range watchers {
		select {
		case <-w.done:
		case <-time.After(10 * time.Second):
			t.Errorf("e2e: %s: the connection is still open 10 s after the server exited", w.name)
			w.c.closeNow()
			<-w.done
		}
		if w.msgs == 0 {
			t.Errorf("e2e: %s received no live update (after its snapshot) while %d bids were acknowledged", w.name, l.ackCount())
		}
		at, err := w.c.ended()
		if cc := closeCode(err); cc != websocket.CloseGoingAway {
			t.Errorf("e2e: %s: the connection ended %s after SIGTERM with %s; want a close frame with code 1001",
				w.name, at.Sub(sigAt).Round(time.Millisecond), describeEnd(err))
		}
	}
	for _, b := range wsBidders {
		if cc := closeCode(b.endErr); cc != websocket.CloseGoingAway {
			t.Errorf("e2e: WebSocket bidder %s (%s on auction %d): the connection ended with %s; want a close frame with code 1001",
				b.name, b.user.Name, b.auction, describeEnd(b.endErr))
		}
	}
	for _, b := range httpBidders {
		t.Logf("e2e: HTTP bidder %s stopped on: %v", b.name, b.endErr)
	}
	select {
	case <-sse.done:
		if sse.err != nil {
			t.Errorf("e2e: the event stream of %s did not end cleanly: %v", plans[0], sse.err)
		}
		if sse.events < 2 {
			t.Errorf("e2e: the event stream of %s carried %d events; want its snapshot and live updates", plans[0], sse.events)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("e2e: the event stream of %s is still open 10 s after the server exited", plans[0])
		cancel()
	}
	<-probeDone
	probe.report(t)

	acks, unanswered, events := l.snapshot()
	t.Logf("e2e: %s", l.summary())
	for _, e := range events {
		if e.At.Before(sigAt) {
			t.Errorf("e2e: before SIGTERM, %s: %s: %s", e.Who, e.Kind, e.What)
		}
	}
	var afterSignal int
	for _, a := range acks {
		if a.AckAt.After(sigAt) {
			afterSignal++
		}
	}
	t.Logf("e2e: %d bids acknowledged, %d of them after SIGTERM was sent", len(acks), afterSignal)

	// Every acknowledged bid is stored, and the auctions equal their replay.
	store := openStore(t, dbURL)
	srv2 := startBinary(t, "after the graceful stop", dbURL)
	api2 := newAPIClient(t, srv2.URL)
	dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
	defer dcancel()
	if lost := checkAcksStored(t, dctx, store, api2, plans, acks); lost > 0 {
		t.Errorf("e2e: %d of %d acknowledged bids are lost after the graceful stop", lost, len(acks))
	}
	checkRefusedNotStored(t, dctx, store, plans, l.refusedBids())
	counts := map[int64]int{}
	for _, p := range plans {
		counts[p.ID] = len(checkReplay(t, dctx, store, api2, p, time.Now()).Bids)
	}
	// Requests whose answer the stop cut off: stored or not, and a repeat of a stored one
	// answers with the stored bid and places nothing new; so does a repeat of an acknowledged one.
	inflight := storedButUnanswered(t, dctx, store, unanswered)
	t.Logf("e2e: %d requests had no answer when their connection closed: %d of them are stored", len(unanswered), len(inflight))
	repeatRequests(t, api2, append(pickRepeats(acks, sigAt, 50), inflight...))
	for _, p := range plans {
		if bids, err := store.AllBids(dctx, p.ID); err != nil || len(bids) != counts[p.ID] {
			t.Errorf("e2e: %s: %d bids stored before repeating request ids, %d after (%v)", p, counts[p.ID], len(bids), err)
		}
	}
}

func describeEnd(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close code %d %q", ce.Code, ce.Text)
	}
	if err == nil {
		return "no error recorded (closed by the client)"
	}
	return fmt.Sprintf("no close frame (%v)", err)
}

// eventStream is a client of GET /auctions/{id}/events.
type eventStream struct {
	snapshot chan struct{} // closed at the first "event: snapshot"
	done     chan struct{} // closed when the stream ended; err says how
	err      error         // nil for a clean end of the stream
	events   int
}

func openEvents(ctx context.Context, base string, auctionID int64) *eventStream {
	s := &eventStream{snapshot: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = s.read(ctx, base+"/auctions/"+strconv.FormatInt(auctionID, 10)+"/events")
	}()
	return s
}

func (s *eventStream) read(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	seen := false
	for sc.Scan() {
		line := sc.Text()
		if ev, ok := strings.CutPrefix(line, "event: "); ok {
			s.events++
			if ev == "snapshot" && !seen {
				seen = true
				close(s.snapshot)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the stream broke: %w", err)
	}
	if !seen {
		return errors.New("the stream ended without a snapshot")
	}
	return nil
}

func (s *eventStream) waitSnapshot(d time.Duration) error {
	select {
	case <-s.snapshot:
		return nil
	case <-s.done:
		return fmt.Errorf("ended before its snapshot: %v", s.err)
	case <-time.After(d):
		return fmt.Errorf("no snapshot within %s", d)
	}
}

// refusalProbe keeps trying new connections while the server stops: a WebSocket, an event
// stream and a bid, each on a new TCP connection. Refused at the door, or answered without a
// snapshot (a 503, a close frame right after the upgrade) is right; a snapshot or an accepted
// bid is a violation.
type refusalProbe struct {
	base    string
	auction int64
	bidder  account

	attempts   int
	outcomes   map[string]int
	violations []string
}

func (p *refusalProbe) run(exited <-chan struct{}, until time.Time) {
	p.outcomes = map[string]int{}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for i := 0; ; i++ {
		gone := false
		select {
		case <-exited:
			gone = true
		default:
		}
		p.try(hc, i)
		if gone || time.Now().After(until) {
			// One round after the exit: the port must refuse too.
			return
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-exited:
		}
	}
}

func (p *refusalProbe) try(hc *http.Client, i int) {
	p.attempts++
	at := time.Now().UTC().Format("15:04:05.000")

	// A new WebSocket.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	ws, resp, err := wsDialer.DialContext(ctx, "ws"+strings.TrimPrefix(p.base, "http")+"/ws/auctions/"+strconv.FormatInt(p.auction, 10), nil)
	cancel()
	switch {
	case err != nil && resp != nil:
		p.outcomes[fmt.Sprintf("WebSocket: upgrade refused with %d", resp.StatusCode)]++
		resp.Body.Close()
	case err != nil:
		p.outcomes["WebSocket: connection refused or reset"]++
	default:
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m liveMsg
		rerr := ws.ReadJSON(&m)
		switch {
		case rerr == nil:
			p.violations = append(p.violations, fmt.Sprintf("a WebSocket opened at %s, after the stop began, got a %q message", at, m.Type))
		case closeCode(rerr) >= 0:
			p.outcomes[fmt.Sprintf("WebSocket: upgraded, then closed with %d", closeCode(rerr))]++
		default:
			p.outcomes["WebSocket: upgraded, then dropped without a close frame"]++
		}
		ws.Close()
	}

	// A new bid.
	body := strings.NewReader(`{"amount":"999999","request_id":"after-the-stop-` + strconv.Itoa(i) + `"}`)
	req, _ := http.NewRequest("POST", p.base+"/api/v1/auctions/"+strconv.FormatInt(p.auction, 10)+"/bids", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.bidder.Token)
	if resp, err := hc.Do(req); err != nil {
		p.outcomes["bid: connection refused or reset"]++
	} else {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode < 300 {
			p.violations = append(p.violations, fmt.Sprintf("a bid sent at %s, after the stop began, was accepted: %d %s", at, resp.StatusCode, raw))
		} else {
			p.outcomes[fmt.Sprintf("bid: %d", resp.StatusCode)]++
		}
	}

	// A new event stream.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", p.base+"/auctions/"+strconv.FormatInt(p.auction, 10)+"/events", nil)
	if resp, err := hc.Do(req); err != nil {
		p.outcomes["event stream: connection refused or reset"]++
	} else {
		sc := bufio.NewScanner(resp.Body)
		got := ""
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				got = ev
				break
			}
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == 200 && got != "":
			p.violations = append(p.violations, fmt.Sprintf("an event stream opened at %s, after the stop began, got an %q event", at, got))
		default:
			p.outcomes[fmt.Sprintf("event stream: %d without events", resp.StatusCode)]++
		}
	}
}

func (p *refusalProbe) report(t *testing.T) {
	t.Helper()
	for _, v := range p.violations {
		t.Errorf("e2e: NOT REFUSED: %s", v)
	}
	keys := make([]string, 0, len(p.outcomes))
	for k, n := range p.outcomes {
		keys = append(keys, fmt.Sprintf("%s ×%d", k, n))
	}
	t.Logf("e2e: %d rounds of new connections after the stop began: %s", p.attempts, strings.Join(keys, "; "))
	if p.attempts == 0 {
		t.Errorf("e2e: no new connection was tried after the stop began")
	}
}

// TestGracefulShutdownWithUnfinishedRequest: a client that has opened a TCP connection but not
// finished its request when SIGTERM comes (a browser's speculative preconnect, a slow mobile
// client) must not keep the server from stopping: PROTOCOL.md §1 says it exits 0. This test
// found that the server used to wait out its whole shutdown budget for such a connection
// (fasthttp's Shutdown only closes idle kept-alive connections) and then exit 1.
func TestGracefulShutdownWithUnfinishedRequest(t *testing.T) {
	dbURL := freshDatabase(t)
	srv := startBinary(t, "stopped with an unfinished request", dbURL)
	addr := strings.TrimPrefix(srv.URL, "http://")

	preconnect, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		t.Fatalf("e2e: connect: %v", err)
	}
	defer preconnect.Close()
	partial, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		t.Fatalf("e2e: connect: %v", err)
	}
	defer partial.Close()
	if _, err := partial.Write([]byte("GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n")); err != nil {
		t.Fatalf("e2e: write half a request: %v", err)
	}
	// The server has accepted both connections once it answers a third one.
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatalf("e2e: GET /healthz: %v", err)
	}
	resp.Body.Close()

	sigAt := time.Now()
	srv.signal(syscall.SIGTERM)
	code, exited := srv.waitExit(shutdownBound)
	switch {
	case !exited:
		t.Errorf("e2e: HANG: the server still runs %s after SIGTERM, with one connection that sent nothing and one with half a request", shutdownBound)
	case code != 0:
		t.Errorf("e2e: the server exited with status %d %s after SIGTERM, with one connection that sent nothing and one with half a request; want 0",
			code, time.Since(sigAt).Round(time.Millisecond))
	default:
		t.Logf("e2e: the server exited 0 %s after SIGTERM", time.Since(sigAt).Round(time.Millisecond))
	}
}
