package handlers

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"auctionhouse/auction"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name, id, data string
	msg            liveMsg
}

// sseStream reads an event stream over a real HTTP connection. A goroutine parses the body
// into events; it ends when the stream does, or when the test closes the body at cleanup.
type sseStream struct {
	t      *testing.T
	res    *http.Response
	events chan sseEvent
	// readErr is why reading the body stopped (nil at its proper end); set before events closes.
	readErr error
}

func openEvents(t *testing.T, addr, id string, opts ...reqOpt) *sseStream {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+"/auctions/"+id+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for _, o := range opts {
		o(req)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET events: %v", err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	s := &sseStream{t: t, res: res, events: make(chan sseEvent, 64)}
	go s.parse()
	return s
}

func (s *sseStream) parse() {
	defer close(s.events)
	sc := bufio.NewScanner(s.res.Body)
	defer func() { s.readErr = sc.Err() }()
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.data != "" {
				_ = json.Unmarshal([]byte(ev.data), &ev.msg)
				ev.msg.raw = ev.data
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			if ev.data != "" {
				// The contract puts each message on one data line.
				ev.data += "\n"
			}
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// next returns the next event, failing after liveWait or if the stream ended.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("the event stream ended")
		}
		return ev
	case <-time.After(liveWait):
		s.t.Fatalf("no event within %v", liveWait)
	}
	return sseEvent{}
}

func (s *sseStream) until(what string, ok func(sseEvent) bool) sseEvent {
	s.t.Helper()
	deadline := time.After(liveWait)
	for {
		select {
		case ev, open := <-s.events:
			if !open {
				s.t.Fatalf("the event stream ended before %s", what)
			}
			if ok(ev) {
				return ev
			}
		case <-deadline:
			s.t.Fatalf("no %s within %v", what, liveWait)
		}
	}
}

// expectEnd waits for the server to end the stream, skipping events before that. The body
// must end properly (its last chunk), not break off.
func (s *sseStream) expectEnd() {
	s.t.Helper()
	deadline := time.After(liveWait)
	for {
		select {
		case _, open := <-s.events:
			if !open {
				if s.readErr != nil {
					s.t.Fatalf("the stream broke off instead of ending: %v", s.readErr)
				}
				return
			}
		case <-deadline:
			s.t.Fatalf("the stream did not end within %v", liveWait)
		}
	}
}

func TestSSE(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		cyd := e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		addr := listen(t, e)
		id := itoa(a.ID)
		bidsPath := "/api/v1/auctions/" + id + "/bids"

		anon := openEvents(t, addr, id)
		bobEvents := openEvents(t, addr, id, as(bob))

		t.Run("headers", func(t *testing.T) {
			h := anon.res.Header
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := h.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control %q", cc)
			}
			if xa := h.Get("X-Accel-Buffering"); xa != "no" {
				t.Errorf("X-Accel-Buffering %q", xa)
			}
			// The stream's header is written by hand on the hijacked connection: the
			// middlewares' headers must still be in it.
			if xc := h.Get("X-Content-Type-Options"); xc != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", xc)
			}
			if te := anon.res.TransferEncoding; len(te) != 1 || te[0] != "chunked" {
				t.Errorf("Transfer-Encoding %q", te)
			}
		})
		var snapSeq int64
		t.Run("snapshot first", func(t *testing.T) {
			for _, s := range []*sseStream{anon, bobEvents} {
				ev := s.next()
				if ev.name != "snapshot" || ev.msg.Type != "snapshot" || ev.msg.Auction == nil || ev.msg.Auction.ID != a.ID {
					t.Fatalf("first event %q: %s", ev.name, ev.data)
				}
				if ev.id != strconv.FormatInt(ev.msg.Auction.Seq, 10) {
					t.Errorf("event id %q, seq %d", ev.id, ev.msg.Auction.Seq)
				}
				snapSeq = ev.msg.Auction.Seq
			}
		})
		t.Run("watchers count event streams", func(t *testing.T) {
			waitFor(t, "two watchers", func() bool { return e.get(a.ID).Watchers == 2 })
		})
		t.Run("auction event after a bid", func(t *testing.T) {
			var ans bidAnswer
			e.do("POST", bidsPath, `{"amount":"10.00","max_amount":"20.00"}`, as(bob)).expect(t, 201).decode(t, &ans)
			ev := anon.until("the new state", func(ev sseEvent) bool { return ev.name == "auction" && ev.msg.Auction.BidCount == 1 })
			v := ev.msg.Auction
			if ev.msg.Type != "auction" || v.Seq <= snapSeq || v.HighBidder == nil || v.HighBidder.ID != bob.User.ID || *v.CurrentPrice != "10.00" {
				t.Errorf("event %s", ev.data)
			}
			if ev.id != strconv.FormatInt(v.Seq, 10) {
				t.Errorf("event id %q, seq %d", ev.id, v.Seq)
			}
			if strings.Contains(ev.data, "\n") {
				t.Errorf("data spans lines: %q", ev.data)
			}
		})
		t.Run("outbid event", func(t *testing.T) {
			e.do("POST", bidsPath, `{"amount":"25.00"}`, as(cyd)).expect(t, 201)
			ev := bobEvents.until("outbid", func(ev sseEvent) bool { return ev.name == "outbid" })
			if ev.msg.Type != "outbid" || ev.msg.AuctionID != a.ID || ev.msg.CurrentPrice != "25.00" || ev.id != "" {
				t.Errorf("outbid event id %q: %s", ev.id, ev.data)
			}
		})
		t.Run("logout ends that session's stream", func(t *testing.T) {
			e.do("DELETE", "/api/v1/sessions/current", "", as(bob)).expect(t, 204)
			bobEvents.expectEnd()
			// Others keep streaming.
			e.do("POST", bidsPath, `{"amount":"30.00"}`, as(cyd)).expect(t, 201)
			anon.until("the state after the logout", func(ev sseEvent) bool {
				return ev.name == "auction" && ev.msg.Auction.BidCount == 3
			})
		})
		t.Run("HTTP/1.0 gets the body without chunks", func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(liveWait))
			if _, err := conn.Write([]byte("GET /auctions/" + id + "/events HTTP/1.0\r\nHost: " + addr + "\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(conn)
			var header []string
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("header: %v", err)
				}
				if line == "\r\n" {
					break
				}
				header = append(header, strings.TrimSpace(line))
			}
			if len(header) == 0 || !strings.HasPrefix(header[0], "HTTP/1.1 200") {
				t.Fatalf("status line %q", header)
			}
			for _, h := range header {
				if strings.HasPrefix(strings.ToLower(h), "transfer-encoding:") {
					t.Errorf("header %q: an HTTP/1.0 client cannot read chunks", h)
				}
			}
			if first, err := r.ReadString('\n'); err != nil || first != "retry: 2000\n" {
				t.Errorf("body starts with %q (%v), want the retry line itself", first, err)
			}
		})
		t.Run("HEAD answers the header alone", func(t *testing.T) {
			before := e.srv.LiveConnections()
			res, err := http.Head("http://" + addr + "/auctions/" + id + "/events")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
				t.Errorf("HEAD: status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
			}
			waitFor(t, "the HEAD request to leave the hub", func() bool { return e.srv.LiveConnections() == before })
		})
		t.Run("unknown auction", func(t *testing.T) {
			for _, bad := range []string{"999999", "abc"} {
				res, err := http.Get("http://" + addr + "/auctions/" + bad + "/events")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				(response{Status: res.StatusCode, Body: body, Header: res.Header, raw: res}).expectError(t, 404, auction.CodeNotFound)
			}
		})
		t.Run("shutdown ends the stream", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), liveWait)
			defer cancel()
			if err := e.engine.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			anon.expectEnd()
			waitFor(t, "the hub empties", func() bool { return e.srv.LiveConnections() == 0 })
		})
	})
}
