package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"golang.org/x/time/rate"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// liveWait bounds every wait for a live message; it is a deadline for failure, never a pause.
const liveWait = 10 * time.Second

// listen serves e's app on a real TCP listener, for clients that need a real connection
// (WebSockets, event streams), and returns its host:port. At cleanup the engine is shut down
// first, which ends every live connection, and then the HTTP server.
func listen(t *testing.T, e *env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return serveOn(t, e, ln)
}

// serveOn serves e's app on ln, as listen does.
func serveOn(t *testing.T, e *env, ln net.Listener) string {
	t.Helper()
	served := make(chan error, 1)
	go func() { served <- e.app.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.engine.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
		if err := e.app.ShutdownWithTimeout(10 * time.Second); err != nil {
			t.Errorf("HTTP shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// liveMsg is any message of the live protocol, decoded loosely so tests can check each field.
type liveMsg struct {
	Type         string        `json:"type"`
	RequestID    *string       `json:"request_id"`
	Auction      *auction.View `json:"auction"`
	Leading      *bool         `json:"leading"`
	Seq          *int64        `json:"seq"`
	AuctionID    int64         `json:"auction_id"`
	CurrentPrice string        `json:"current_price"`
	Bid          *struct {
		ID     int64  `json:"id"`
		Amount string `json:"amount"`
	} `json:"bid"`
	Error *struct {
		Code    auction.Code `json:"code"`
		Message string       `json:"message"`
	} `json:"error"`
	raw string
}

// wsClient is a real WebSocket client on a test server.
type wsClient struct {
	t    *testing.T
	conn *fws.Conn
}

// dialWS opens /ws/auctions/{id} with the headers the options set; it returns the handshake
// answer and error as they are, for tests of refusals.
func dialWS(t *testing.T, addr, id string, opts ...reqOpt) (*fws.Conn, *http.Response, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr, nil)
	for _, o := range opts {
		o(req)
	}
	d := fws.Dialer{HandshakeTimeout: liveWait}
	conn, res, err := d.Dial("ws://"+addr+"/ws/auctions/"+id, req.Header)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, res, err
}

// connect opens a WebSocket that must succeed and returns it with its first message, which
// must be the snapshot.
func connect(t *testing.T, addr string, id int64, opts ...reqOpt) (*wsClient, liveMsg) {
	t.Helper()
	conn, res, err := dialWS(t, addr, itoa(id), opts...)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	c := &wsClient{t: t, conn: conn}
	first := c.next()
	if first.Type != "snapshot" || first.Auction == nil || first.Auction.ID != id {
		t.Fatalf("first message %s, want the snapshot of auction %d", first.raw, id)
	}
	return c, first
}

// next reads one message, failing the test after liveWait.
func (c *wsClient) next() liveMsg {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(liveWait))
	mt, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if mt != fws.TextMessage {
		c.t.Fatalf("message type %d, want text", mt)
	}
	var m liveMsg
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("message is not JSON (%v): %s", err, data)
	}
	m.raw = string(data)
	return m
}

// until reads messages until one satisfies ok, skipping the others (states broadcast to
// everyone arrive between the answers a test waits for).
func (c *wsClient) until(what string, ok func(liveMsg) bool) liveMsg {
	c.t.Helper()
	deadline := time.Now().Add(liveWait)
	for time.Now().Before(deadline) {
		if m := c.next(); ok(m) {
			return m
		}
	}
	c.t.Fatalf("no %s within %v", what, liveWait)
	return liveMsg{}
}

// answer reads until the reply to a client message: bid_accepted, bid_rejected or error.
func (c *wsClient) answer() liveMsg {
	c.t.Helper()
	return c.until("reply", func(m liveMsg) bool {
		return m.Type == "bid_accepted" || m.Type == "bid_rejected" || m.Type == "error"
	})
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(liveWait))
	if err := c.conn.WriteMessage(fws.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// bid sends a bid message and returns the reply to it.
func (c *wsClient) bid(requestID, amount string) liveMsg {
	c.t.Helper()
	c.send(`{"type":"bid","request_id":"` + requestID + `","amount":"` + amount + `"}`)
	m := c.answer()
	if m.RequestID == nil || *m.RequestID != requestID {
		c.t.Fatalf("reply %s does not echo request_id %q", m.raw, requestID)
	}
	return m
}

// expectClose reads until the server closes the connection and checks the close code.
func (c *wsClient) expectClose(code int) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(liveWait))
	for {
		_, data, err := c.conn.ReadMessage()
		if err == nil {
			continue // states sent before the close
		}
		var ce *fws.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended with %v, want close code %d (last message %s)", err, code, data)
		}
		if ce.Code != code {
			c.t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Text, code)
		}
		return
	}
}

// expectAccepted and expectRejected check a reply.
func expectAccepted(t *testing.T, m liveMsg, amount string, leading bool) {
	t.Helper()
	if m.Type != "bid_accepted" || m.Bid == nil || m.Bid.ID <= 0 || m.Bid.Amount != amount || m.Leading == nil || *m.Leading != leading {
		t.Fatalf("reply %s, want bid_accepted of %s with leading %v", m.raw, amount, leading)
	}
}

func expectRejected(t *testing.T, m liveMsg, code auction.Code) {
	t.Helper()
	if m.Type != "bid_rejected" || m.Error == nil || m.Error.Code != code || m.Error.Message == "" {
		t.Fatalf("reply %s, want bid_rejected with code %s", m.raw, code)
	}
}

// waitFor polls cond until it holds, failing after liveWait: for state outside the protocol,
// such as the hub's counters, which settle a moment after the client sees its close.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, liveWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWSBidding(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		cyd := e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		addr := listen(t, e)

		bobWS, snap := connect(t, addr, a.ID, as(bob))
		watcher, _ := connect(t, addr, a.ID)
		cydWS, _ := connect(t, addr, a.ID, cookie(cyd.Token))
		annWS, _ := connect(t, addr, a.ID, as(ann))
		// Joining watchers change the state (the count) too; let it settle.
		settled := watcher.until("four watchers", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.Watchers == 4 })
		if snap.Auction.Seq <= 0 || snap.Auction.BidCount != 0 || snap.Auction.CurrentPrice != nil {
			t.Errorf("snapshot %s", snap.raw)
		}
		if _, err := time.Parse(time.RFC3339, snap.Auction.ServerTime); err != nil {
			t.Errorf("snapshot server_time %q: %v", snap.Auction.ServerTime, err)
		}

		t.Run("accepted, and broadcast to the others", func(t *testing.T) {
			bobWS.send(`{"type":"bid","request_id":"r1","amount":"10.00","max_amount":"20.00"}`)
			reply := bobWS.answer()
			if reply.RequestID == nil || *reply.RequestID != "r1" {
				t.Errorf("reply %s does not echo r1", reply.raw)
			}
			expectAccepted(t, reply, "10.00", true)
			if reply.Seq == nil || *reply.Seq <= settled.Auction.Seq {
				t.Fatalf("reply %s: want a seq above %d, the last state before the bid", reply.raw, settled.Auction.Seq)
			}
			// The reply's seq names a state that includes the bid: every state before the
			// bid has a lower one.
			state := watcher.until("the new state", func(m liveMsg) bool {
				if m.Type == "auction" && m.Auction.BidCount == 0 && m.Auction.Seq >= *reply.Seq {
					t.Errorf("state %s without the bid has seq %d, not below the reply's", m.raw, m.Auction.Seq)
				}
				return m.Type == "auction" && m.Auction.BidCount == 1
			})
			if state.Auction.Seq < *reply.Seq {
				t.Errorf("first state with the bid has seq %d, below the reply's %d", state.Auction.Seq, *reply.Seq)
			}
			v := state.Auction
			if v.CurrentPrice == nil || *v.CurrentPrice != "10.00" || v.HighBidder == nil || v.HighBidder.ID != bob.User.ID || v.Seq <= snap.Auction.Seq {
				t.Errorf("state after the bid %s", state.raw)
			}
			if showsAmount(state.raw, "20.00") {
				t.Errorf("the maximum leaks: %s", state.raw)
			}
		})
		t.Run("cookie bidder, outbid by proxy", func(t *testing.T) {
			expectAccepted(t, cydWS.bid("c1", "15.00"), "15.00", false)
		})
		t.Run("outbid notice to who lost the lead", func(t *testing.T) {
			expectAccepted(t, cydWS.bid("c2", "25.00"), "25.00", true)
			n := bobWS.until("outbid", func(m liveMsg) bool { return m.Type == "outbid" })
			if n.AuctionID != a.ID || n.CurrentPrice != "25.00" {
				t.Errorf("outbid %s, want auction %d at 25.00", n.raw, a.ID)
			}
		})
		t.Run("repeated request id answers the same", func(t *testing.T) {
			m := cydWS.bid("c2", "25.00")
			expectAccepted(t, m, "25.00", true)
			if now := e.get(a.ID); m.Seq == nil || *m.Seq != now.Seq {
				t.Errorf("repeat's reply %s: want the current seq %d", m.raw, now.Seq)
			}
		})

		before := e.get(a.ID)
		long := strings.Repeat("r", 65)
		tests := []struct {
			name string
			c    *wsClient
			msg  string
			code auction.Code
		}{
			{"too low", bobWS, `{"type":"bid","request_id":"x1","amount":"11.00"}`, auction.CodeBidTooLow},
			{"leader not raising its maximum", cydWS, `{"type":"bid","request_id":"x2","amount":"25.00"}`, auction.CodeBidTooLow},
			{"unauthenticated", watcher, `{"type":"bid","request_id":"x3","amount":"100.00"}`, auction.CodeUnauthenticated},
			{"own auction", annWS, `{"type":"bid","request_id":"x4","amount":"100.00"}`, auction.CodeOwnAuction},
			{"amount a JSON number", bobWS, `{"type":"bid","request_id":"x5","amount":100}`, auction.CodeInvalidAmount},
			{"amount a float", bobWS, `{"type":"bid","request_id":"x6","amount":100.5}`, auction.CodeInvalidAmount},
			{"three decimals", bobWS, `{"type":"bid","request_id":"x7","amount":"100.005"}`, auction.CodeInvalidAmount},
			{"exponent", bobWS, `{"type":"bid","request_id":"x8","amount":"1e3"}`, auction.CodeInvalidAmount},
			{"max below amount", bobWS, `{"type":"bid","request_id":"x9","amount":"100.00","max_amount":"50.00"}`, auction.CodeInvalidAmount},
			{"amount missing", bobWS, `{"type":"bid","request_id":"x10"}`, auction.CodeInvalidRequest},
			{"amount a boolean", bobWS, `{"type":"bid","request_id":"x11","amount":true}`, auction.CodeInvalidRequest},
			{"request id too long", bobWS, `{"type":"bid","request_id":"` + long + `","amount":"100.00"}`, auction.CodeInvalidRequest},
			{"request id with NUL", bobWS, `{"type":"bid","request_id":"x\u0000","amount":"100.00"}`, auction.CodeInvalidRequest},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.c.send(tt.msg)
				m := tt.c.answer()
				expectRejected(t, m, tt.code)
				var sent struct {
					RequestID string `json:"request_id"`
				}
				_ = json.Unmarshal([]byte(tt.msg), &sent)
				if m.RequestID == nil || *m.RequestID != sent.RequestID {
					t.Errorf("reply %s does not echo the request id", m.raw)
				}
			})
		}
		t.Run("refused bids change nothing", func(t *testing.T) {
			sameState(t, before, e.get(a.ID))
		})
	})
}

func TestWSMalformedMessages(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		a := e.createAuction(ann, nil)
		addr := listen(t, e)
		c, _ := connect(t, addr, a.ID, as(bob))

		tests := []struct{ name, msg string }{
			{"not JSON", `bid 12.50 please`},
			{"truncated", `{"type":"bid","amount":"12.50"`},
			{"not an object", `["bid","12.50"]`},
			{"empty", ``},
			{"no type", `{"request_id":"q1","amount":"12.50"}`},
			{"unknown type", `{"type":"dance"}`},
			{"type not a string", `{"type":7}`},
			{"trailing data", `{"type":"bid","amount":"12.50"} {}`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c.send(tt.msg)
				m := c.answer()
				if m.Type != "error" || m.Error == nil || m.Error.Code != auction.CodeInvalidRequest || m.Error.Message == "" {
					t.Fatalf("reply %s, want an invalid_request error", m.raw)
				}
			})
		}
		t.Run("binary frame", func(t *testing.T) {
			if err := c.conn.WriteMessage(fws.BinaryMessage, []byte(`{"type":"bid"}`)); err != nil {
				t.Fatal(err)
			}
			if m := c.answer(); m.Type != "error" || m.Error.Code != auction.CodeInvalidRequest {
				t.Fatalf("reply %s", m.raw)
			}
		})
		t.Run("exactly the size limit is fine", func(t *testing.T) {
			prefix, suffix := `{"type":"pad","x":"`, `"}`
			msg := prefix + strings.Repeat("a", wsMaxMessage-len(prefix)-len(suffix)) + suffix
			if len(msg) != wsMaxMessage {
				t.Fatalf("built %d bytes", len(msg))
			}
			c.send(msg)
			if m := c.answer(); m.Type != "error" || !strings.Contains(m.Error.Message, "pad") {
				t.Fatalf("reply %s", m.raw)
			}
		})
		t.Run("still usable", func(t *testing.T) {
			expectAccepted(t, c.bid("ok", "10.00"), "10.00", true)
		})
	})
}

func TestWSMessageTooBig(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		a := e.createAuction(ann, nil)
		addr := listen(t, e)
		c, _ := connect(t, addr, a.ID)
		c.send(`{"type":"bid","amount":"` + strings.Repeat("9", wsMaxMessage) + `"}`)
		c.expectClose(fws.CloseMessageTooBig)
		waitFor(t, "the connection leaves the hub", func() bool { return e.srv.LiveConnections() == 0 })
	})
}

func TestWSHandshake(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		e := newEnv(t, store, Config{AllowedOrigins: []string{"https://shop.example", "http://partner.example:8080"}}, nil)
		ann := e.signup("ann")
		a := e.createAuction(ann, nil)
		addr := listen(t, e)
		id := itoa(a.ID)

		tests := []struct {
			name   string
			id     string
			opts   []reqOpt
			status int
			code   auction.Code
		}{
			{"no origin (not a browser)", id, nil, 101, ""},
			{"same origin", id, []reqOpt{header("Origin", "http://"+addr)}, 101, ""},
			{"allowed origin", id, []reqOpt{header("Origin", "https://shop.example")}, 101, ""},
			{"allowed origin, other case and default port", id, []reqOpt{header("Origin", "HTTPS://Shop.Example:443")}, 101, ""},
			{"allowed origin with port", id, []reqOpt{header("Origin", "http://partner.example:8080")}, 101, ""},
			{"foreign origin", id, []reqOpt{header("Origin", "https://evil.example")}, 403, auction.CodeForbidden},
			{"allowed host, other scheme", id, []reqOpt{header("Origin", "http://shop.example")}, 403, auction.CodeForbidden},
			{"allowed host, other port", id, []reqOpt{header("Origin", "http://partner.example")}, 403, auction.CodeForbidden},
			{"null origin", id, []reqOpt{header("Origin", "null")}, 403, auction.CodeForbidden},
			{"same host, other port", id, []reqOpt{header("Origin", "http://127.0.0.1:1")}, 403, auction.CodeForbidden},
			{"unknown auction", "999999", nil, 404, auction.CodeNotFound},
			{"not an id", "abc", nil, 404, auction.CodeNotFound},
			{"bad bearer token", id, []reqOpt{bearer(strings.Repeat("x", 43))}, 401, auction.CodeUnauthenticated},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				conn, res, err := dialWS(t, addr, tt.id, tt.opts...)
				if tt.status == 101 {
					if err != nil {
						t.Fatalf("dial: %v", err)
					}
					c := &wsClient{t: t, conn: conn}
					if m := c.next(); m.Type != "snapshot" {
						t.Fatalf("first message %s", m.raw)
					}
					return
				}
				if err == nil {
					t.Fatalf("upgraded, want %d", tt.status)
				}
				if res == nil {
					t.Fatalf("no HTTP answer: %v", err)
				}
				body, _ := io.ReadAll(res.Body)
				(response{Status: res.StatusCode, Body: body, Header: res.Header, raw: res}).expectError(t, tt.status, tt.code)
			})
		}
		t.Run("plain GET", func(t *testing.T) {
			e.do("GET", "/ws/auctions/"+id, "").expectError(t, 426, auction.CodeInvalidRequest)
		})
	})
}

func TestWSLogoutClosesThatSession(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		bobElsewhere := e.login("bob", testPassword)
		a := e.createAuction(ann, nil)
		addr := listen(t, e)

		viaToken, _ := connect(t, addr, a.ID, as(bob))
		viaCookie, _ := connect(t, addr, a.ID, cookie(bob.Token))
		other, _ := connect(t, addr, a.ID, as(bobElsewhere))
		anon, _ := connect(t, addr, a.ID)
		waitFor(t, "four connections", func() bool { return e.srv.LiveConnections() == 4 })

		e.do("DELETE", "/api/v1/sessions/current", "", as(bob)).expect(t, 204)
		viaToken.expectClose(fws.CloseNormalClosure)
		viaCookie.expectClose(fws.CloseNormalClosure)
		waitFor(t, "the signed-out sockets leave the hub", func() bool { return e.srv.LiveConnections() == 2 })

		// The other session of the same user, and anonymous watchers, are untouched.
		expectAccepted(t, other.bid("after", "10.00"), "10.00", true)
		anon.send(`{"type":"nothing"}`)
		if m := anon.answer(); m.Type != "error" {
			t.Fatalf("reply %s", m.raw)
		}
		// The token stopped working for new sockets too.
		if _, res, err := dialWS(t, addr, itoa(a.ID), as(bob)); err == nil || res == nil || res.StatusCode != 401 {
			t.Fatalf("dial with the signed-out token: %v", err)
		}
	})
}

func TestWSShutdownClosesGoingAway(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		a := e.createAuction(ann, nil)
		addr := listen(t, e)
		c1, _ := connect(t, addr, a.ID)
		c2, _ := connect(t, addr, a.ID, as(bob))

		ctx, cancel := context.WithTimeout(context.Background(), liveWait)
		defer cancel()
		if err := e.engine.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		c1.expectClose(fws.CloseGoingAway)
		c2.expectClose(fws.CloseGoingAway)
		waitFor(t, "the hub empties", func() bool { return e.srv.LiveConnections() == 0 })
	})
}

// Once AwaitLiveClosed returns, every WebSocket's close frame is on its way: the program
// may end, which this test stands in for by closing every server-side socket at once. Each
// client must still read 1001, not a dropped connection. With 200 watchers some writers have
// not yet run when the engine's Shutdown returns: without the wait, the test fails.
func TestWSAwaitClosedBeforeExit(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		a := e.createAuction(ann, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rec := &recordingListener{Listener: ln}
		addr := serveOn(t, e, rec)
		var watchers []*wsClient
		for range 200 {
			c, _ := connect(t, addr, a.ID)
			watchers = append(watchers, c)
		}

		ctx, cancel := context.WithTimeout(context.Background(), liveWait)
		defer cancel()
		if err := e.engine.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.AwaitLiveClosed(ctx); err != nil {
			t.Fatal(err)
		}
		rec.closeAll()
		for _, c := range watchers {
			c.expectClose(fws.CloseGoingAway)
		}
	})
}

// recordingListener keeps every connection it accepts, so that a test can cut them all as a
// process's exit would.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *recordingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

func TestWSWatchersCount(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		a := e.createAuction(ann, nil)
		addr := listen(t, e)

		first, _ := connect(t, addr, a.ID)
		first.until("watchers 1", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.Watchers == 1 })
		second, _ := connect(t, addr, a.ID)
		first.until("watchers 2", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.Watchers == 2 })
		if e.srv.LiveConnections() != 2 {
			t.Errorf("hub counts %d connections, want 2", e.srv.LiveConnections())
		}
		if got := e.get(a.ID).Watchers; got != 2 {
			t.Errorf("API shows %d watchers, want 2", got)
		}

		second.conn.Close()
		first.until("watchers 1 again", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.Watchers == 1 })
		waitFor(t, "the hub counts one", func() bool { return e.srv.LiveConnections() == 1 })
	})
}

func TestWSReconnectResyncs(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		cyd := e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		addr := listen(t, e)
		path := "/api/v1/auctions/" + itoa(a.ID) + "/bids"

		c, first := connect(t, addr, a.ID, as(bob))
		expectAccepted(t, c.bid("b1", "10.00"), "10.00", true)
		c.conn.Close()

		// Bids the disconnected client misses.
		e.do("POST", path, `{"amount":"12.00"}`, as(cyd)).expect(t, 201)
		var last bidAnswer
		e.do("POST", path, `{"amount":"20.00"}`, as(cyd)).expect(t, 201).decode(t, &last)

		_, again := connect(t, addr, a.ID, as(bob))
		v := again.Auction
		if v.Seq < last.Auction.Seq || v.Seq <= first.Auction.Seq {
			t.Errorf("snapshot seq %d, want at least %d (the last bid's) and above %d", v.Seq, last.Auction.Seq, first.Auction.Seq)
		}
		if v.BidCount != 3 || v.CurrentPrice == nil || *v.CurrentPrice != *last.Auction.CurrentPrice || v.HighBidder == nil || v.HighBidder.ID != cyd.User.ID {
			t.Errorf("snapshot %s, want the state after the missed bids", again.raw)
		}
	})
}

func TestWSBidRateLimit(t *testing.T) {
	t.Run("per user, across connections", func(t *testing.T) {
		eachStore(t, func(t *testing.T, e *env) {
			// The real limit, with a stopped clock so that no token comes back mid-test.
			now := time.Now()
			e.srv.live.bidLimit.now = func() time.Time { return now }
			ann := e.signup("ann")
			bob := e.signup("bob")
			cyd := e.signup("cyd")
			a := e.createAuction(ann, map[string]any{"starting_price": "100.00"})
			addr := listen(t, e)
			c1, _ := connect(t, addr, a.ID, as(bob))
			c2, _ := connect(t, addr, a.ID, as(bob))

			// Too-low bids cost a token each as well: the limit is on attempts.
			for i := range wsBidBurst {
				c := c1
				if i%2 == 1 {
					c = c2
				}
				expectRejected(t, c.bid("low"+itoa(int64(i)), "1.00"), auction.CodeBidTooLow)
			}
			expectRejected(t, c1.bid("over1", "100.00"), auction.CodeRateLimited)
			expectRejected(t, c2.bid("over2", "100.00"), auction.CodeRateLimited)
			// Another user has a bucket of its own.
			c3, _ := connect(t, addr, a.ID, as(cyd))
			expectAccepted(t, c3.bid("fresh", "100.00"), "100.00", true)
		})
	})
	t.Run("off", func(t *testing.T) {
		dbtest.Each(t, func(t *testing.T, store *models.Store) {
			e := newEnv(t, store, Config{DisableRateLimits: true}, nil)
			if e.srv.live.bidLimit != nil || e.srv.live.addrCap != 0 || e.srv.live.userCap != 0 || e.srv.logins != nil || e.srv.signups != nil {
				t.Fatalf("limits on with DisableRateLimits")
			}
			ann := e.signup("ann")
			bob := e.signup("bob")
			a := e.createAuction(ann, map[string]any{"starting_price": "100.00"})
			addr := listen(t, e)
			c, _ := connect(t, addr, a.ID, as(bob))
			for i := range wsBidBurst + 5 {
				expectRejected(t, c.bid("low"+itoa(int64(i)), "1.00"), auction.CodeBidTooLow)
			}
		})
	})
}

func TestKeyedLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newKeyedLimiter(rate.Every(time.Second), 2)
	l.now = func() time.Time { return now }
	for i, want := range []bool{true, true, false} {
		if got := l.allow(1); got != want {
			t.Fatalf("call %d of a burst of 2: allowed %v, want %v", i+1, got, want)
		}
	}
	if !l.allow(2) {
		t.Fatal("keys share a bucket")
	}
	now = now.Add(time.Second)
	if !l.allow(1) || l.allow(1) {
		t.Fatal("one token per second not refilled")
	}
	// Once full again, buckets are dropped at the next sweep, and nothing is lost by that.
	now = now.Add(limiterSweepInterval)
	l.allow(3)
	if _, ok := l.buckets[1]; ok {
		t.Error("a full bucket survived the sweep")
	}
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets, want only the new one", len(l.buckets))
	}
	var off *keyedLimiter
	if !off.allow(1) {
		t.Error("a nil limiter refused")
	}
}

// The close codes the writer sends when the engine ends a subscription, and when the reader
// gives up on a client that does not read its replies: both are hard to provoke over a real
// socket (kernel buffers absorb megabytes), so the decisions are checked directly.
func TestWSCloseDecisions(t *testing.T) {
	if code, _ := subscriptionCloseCode(auction.ErrShutdown); code != fws.CloseGoingAway {
		t.Errorf("shutdown closes with %d", code)
	}
	if code, _ := subscriptionCloseCode(auction.ErrSlowConsumer); code != fws.ClosePolicyViolation {
		t.Errorf("slow consumer closes with %d", code)
	}
	// writerRunning as in serveWS before the hand-over: the kicks here start no writer.
	w := &wsConn{replies: make(chan []byte, 2), live: newLiveConn(0, 0, ""), wakeC: make(chan struct{}, 1), writerRunning: true}
	w.reply([]byte("1"))
	w.reply([]byte("2"))
	if w.live.closing() {
		t.Fatal("closing before the queue overflowed")
	}
	w.reply([]byte("3"))
	if code, _ := w.live.closeCode(); !w.live.closing() || code != fws.ClosePolicyViolation {
		t.Fatalf("overflow: closing %v with %d, want 1008", w.live.closing(), code)
	}
	// A later reason does not replace the first.
	w.live.requestClose(fws.CloseNormalClosure, "signed out")
	if code, _ := w.live.closeCode(); code != fws.ClosePolicyViolation {
		t.Errorf("close code changed to %d", code)
	}
}

func TestOriginNormalization(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://Shop.Example", "https://shop.example", true},
		{"https://shop.example:443", "https://shop.example", true},
		{"http://shop.example:80", "http://shop.example", true},
		{"http://shop.example:8080", "http://shop.example:8080", true},
		{"https://shop.example/", "https://shop.example", true},
		{"http://[::1]:80", "http://[::1]", true},
		{"null", "", false},
		{"ftp://shop.example", "", false},
		{"https://shop.example/path", "", false},
		{"https://user@shop.example", "", false},
		{"shop.example", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeOrigin(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeOrigin(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLiveHub(t *testing.T) {
	h := &liveHub{sessions: make(map[int64]map[*liveConn]struct{}), perAddr: make(map[string]int), perUser: make(map[int64]int), addrCap: 2, userCap: 2}
	mark := h.logoutMark()
	a1, a2 := newLiveConn(7, 70, "10.0.0.1"), newLiveConn(7, 70, "10.0.0.2")
	b, anon := newLiveConn(8, 80, "10.0.0.1"), newLiveConn(0, 0, "10.0.0.3")
	for _, c := range []*liveConn{a1, a2, b, anon} {
		if !h.register(c, mark) {
			t.Fatal("register asks for a session check with no logout in between")
		}
	}
	if h.count() != 4 || !h.addrFull("10.0.0.1") || h.addrFull("10.0.0.2") {
		t.Fatalf("count %d, per address %v", h.count(), h.perAddr)
	}
	// User 70 holds two connections from two addresses; user 80 one; anonymous ones no user's.
	if !h.userFull(70) || h.userFull(80) || h.perUser[0] != 0 {
		t.Fatalf("per user %v", h.perUser)
	}

	h.closeSession(7)
	for _, c := range []*liveConn{a1, a2} {
		if code, _ := c.closeCode(); !c.closing() || code != fws.CloseNormalClosure {
			t.Errorf("session 7 connection: closing %v, code %d", c.closing(), code)
		}
	}
	if b.closing() || anon.closing() {
		t.Error("closeSession closed other sessions' connections")
	}

	// A connection that authenticated before that logout and registers after it must have its
	// session checked again: the logout may have been its own.
	late := newLiveConn(9, 90, "10.0.0.4")
	if h.register(late, mark) {
		t.Error("register trusts a session across a logout")
	}
	if !h.register(newLiveConn(0, 0, "10.0.0.5"), mark) {
		t.Error("anonymous connections have no session to check")
	}

	for _, c := range []*liveConn{a1, a2, b, anon, late, a1, anon} {
		h.unregister(c)
	}
	if h.count() != 1 || len(h.sessions) != 0 || h.perAddr["10.0.0.1"] != 0 || len(h.perUser) != 0 {
		t.Errorf("after unregistering: count %d, sessions %v, per address %v, per user %v", h.count(), h.sessions, h.perAddr, h.perUser)
	}
}

func TestSessionStillValid(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		bob := e.signup("bob")
		sess, err := e.srv.sessionByToken(context.Background(), bob.Token)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := e.srv.sessionStillValid(context.Background(), sess); !ok || err != nil {
			t.Fatalf("live session: %v, %v", ok, err)
		}
		e.do("DELETE", "/api/v1/sessions/current", "", as(bob)).expect(t, 204)
		if ok, err := e.srv.sessionStillValid(context.Background(), sess); ok || err != nil {
			t.Fatalf("signed-out session: %v, %v", ok, err)
		}
	})
}
