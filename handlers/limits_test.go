package handlers

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// expectLiveRefused fails the test unless a WebSocket or event-stream request was refused,
// before any upgrade or stream, with this status and code in the JSON error shape.
func expectLiveRefused(t *testing.T, what string, res *http.Response, status int, code auction.Code) {
	t.Helper()
	if res == nil {
		t.Fatalf("%s: no HTTP answer", what)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	(response{Status: res.StatusCode, Body: body, Header: res.Header, raw: res}).expectError(t, status, code)
}

// getEvents opens /auctions/{id}/events and returns the answer as it is.
func getEvents(t *testing.T, addr, id string, opts ...reqOpt) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/auctions/"+id+"/events", nil)
	for _, o := range opts {
		o(req)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET events: %v", err)
	}
	return res
}

// TestLiveUserCap: one signed-in user holds at most maxLiveConnsPerUser WebSockets and event
// streams together; the next is refused with 429 before upgrading, and changes nothing.
func TestLiveUserCap(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann, bob, cyd := e.signup("ann"), e.signup("bob"), e.signup("cyd")
		a := e.createAuction(ann, nil)
		id := itoa(a.ID)
		addr := listen(t, e)

		var sockets []*wsClient
		for i := range maxLiveConnsPerUser {
			if i%4 == 3 {
				s := openEvents(t, addr, id, as(bob))
				if ev := s.next(); ev.name != "snapshot" {
					t.Fatalf("first event %q", ev.name)
				}
				continue
			}
			c, _ := connect(t, addr, a.ID, as(bob))
			sockets = append(sockets, c)
		}
		// A second session of the same user counts too: the cap is the user's.
		bobElsewhere := e.login("bob", testPassword)
		for _, opts := range [][]reqOpt{{as(bob)}, {as(bobElsewhere)}} {
			_, res, err := dialWS(t, addr, id, opts...)
			if err == nil {
				t.Fatal("upgraded over the cap")
			}
			expectLiveRefused(t, "WebSocket over the cap", res, 429, auction.CodeRateLimited)
			expectLiveRefused(t, "event stream over the cap", getEvents(t, addr, id, opts...), 429, auction.CodeRateLimited)
		}
		if got := e.srv.LiveConnections(); got != maxLiveConnsPerUser {
			t.Fatalf("%d live connections after refusals, want %d", got, maxLiveConnsPerUser)
		}

		// Others are not affected: another user, and anonymous watchers.
		connect(t, addr, a.ID, as(cyd))
		connect(t, addr, a.ID)

		// A closed connection makes room again.
		sockets[0].conn.Close()
		waitFor(t, "the closed socket to unregister", func() bool { return e.srv.LiveConnections() == maxLiveConnsPerUser+1 })
		connect(t, addr, a.ID, as(bob))
	})
}

func TestLiveCapsOff(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		e := newEnv(t, store, Config{DisableRateLimits: true}, nil)
		ann, bob := e.signup("ann"), e.signup("bob")
		a := e.createAuction(ann, nil)
		addr := listen(t, e)
		for range maxLiveConnsPerUser + 5 {
			connect(t, addr, a.ID, as(bob))
		}
	})
}

// TestTimeoutsSpareLiveConnections: the server's read, write and idle timeouts are for plain
// requests; a WebSocket and an event stream outlive them and keep working.
func TestTimeoutsSpareLiveConnections(t *testing.T) {
	const timeout = 300 * time.Millisecond
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		e := newEnv(t, store, Config{ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout, UploadReadTimeout: timeout}, nil)
		ann, bob, cyd := e.signup("ann"), e.signup("bob"), e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		addr := listen(t, e)

		ws, _ := connect(t, addr, a.ID, as(bob))
		events := openEvents(t, addr, itoa(a.ID), as(cyd))
		events.next() // the snapshot
		time.Sleep(3 * timeout)

		expectAccepted(t, ws.bid("late", "10.00"), "10.00", true)
		events.until("the new state", func(ev sseEvent) bool {
			return ev.name == "auction" && ev.msg.Auction != nil && ev.msg.Auction.BidCount == 1
		})
		time.Sleep(3 * timeout)
		e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/bids", `{"amount":"20.00"}`, as(cyd)).expect(t, 201)
		ws.until("the next state", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.BidCount == 2 })
		events.until("the next state", func(ev sseEvent) bool {
			return ev.name == "auction" && ev.msg.Auction != nil && ev.msg.Auction.BidCount == 2
		})
	})
}

// TestSlowClientTimesOut: a client that sends its request too slowly (slowloris) is cut off at
// ReadTimeout, and one that stays idle on a kept-alive connection at IdleTimeout.
func TestSlowClientTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newEnv(t, dbtest.SQLite(t), Config{ReadTimeout: timeout, IdleTimeout: timeout}, nil)
	addr := listen(t, e)
	for _, tt := range []struct {
		name  string
		write string
	}{
		{"half a request line", "GET /healthz HT"},
		{"headers never end", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n"},
		{"body never comes", "POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"},
		{"idle after a request", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, tt.write); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		// Read whatever the server answers until it closes the connection.
		_, err = io.Copy(io.Discard, bufio.NewReader(conn))
		conn.Close()
		if elapsed := time.Since(start); err != nil || elapsed > 5*time.Second {
			t.Errorf("%s: connection still open after %v (%v)", tt.name, elapsed, err)
		}
	}
}

// TestRequestLimits: which requests may send more than BodyLimit or take longer, as chosen from
// the header before the body is read.
func TestRequestLimits(t *testing.T) {
	s := New(Config{BodyLimit: 1000, ReadTimeout: time.Second, UploadReadTimeout: time.Minute, WriteTimeout: 2 * time.Second}, nil, nil, nil)
	for _, tt := range []struct {
		method, uri string
		body        int
		read, write time.Duration
	}{
		{"POST", "/api/v1/users", 1000, 0, 2 * time.Second},
		{"POST", "/api/v1/auctions", 1000, 0, 2 * time.Second},
		{"POST", "/login", 1000, 0, 2 * time.Second},
		{"POST", "/auctions/7/bid", 1000, 0, 2 * time.Second},
		{"GET", "/auctions", 1000, 0, 2 * time.Second},
		{"GET", "/photos/x.jpg", 1000, 0, 2 * time.Second},
		// The seller's form: the photo limit (0: the server-wide one) and the upload timeout.
		{"POST", "/auctions", 0, time.Minute, 2 * time.Second},
		{"POST", "/Auctions/", 0, time.Minute, 2 * time.Second},
		{"POST", "/auctions?x=1", 0, time.Minute, 2 * time.Second},
		{"POST", "http://shop.example/auctions", 0, time.Minute, 2 * time.Second},
		// WebSockets and event streams are hijacked, which clears the deadline; they set
		// their own per write.
		{"GET", "/auctions/7/events", 1000, 0, 2 * time.Second},
		{"GET", "/ws/auctions/7", 1000, 0, 2 * time.Second},
	} {
		var h fasthttp.RequestHeader
		h.SetMethod(tt.method)
		h.SetRequestURI(tt.uri)
		rc := s.requestLimits(&h)
		if rc.MaxRequestBodySize != tt.body || rc.ReadTimeout != tt.read || rc.WriteTimeout != tt.write {
			t.Errorf("%s %s: body %d, read %v, write %v; want %d, %v, %v", tt.method, tt.uri,
				rc.MaxRequestBodySize, rc.ReadTimeout, rc.WriteTimeout, tt.body, tt.read, tt.write)
		}
	}
}
