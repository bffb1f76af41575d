package handlers

import (
	"net"
	"strings"
	"testing"
	"time"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// An event-stream client that stops reading is dropped once a write has waited sseWriteWait,
// instead of holding its connection and goroutine for as long as it stays connected, and a
// reading client on the same auction keeps getting every state meanwhile.
func TestSSEStuckClientDropped(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		// Most of the test is waiting for a deadline: the two stores wait together.
		t.Parallel()
		// Forty bids in a row from one bidder would meet the bid rate limit.
		e := newEnv(t, store, Config{DisableRateLimits: true}, nil)
		ann := e.signup("ann")
		bob := e.signup("bob")
		// Large states fill the stuck client's buffers in a few dozen events.
		a := e.createAuction(ann, map[string]any{"description": strings.Repeat("A fine lamp. ", 150)})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := serveOn(t, e, smallSendBuffers{ln.(*net.TCPListener)})

		stuck := dialStuckEvents(t, addr, a.ID)
		defer stuck.Close()
		reader := openEvents(t, addr, itoa(a.ID))
		reader.next() // the snapshot
		waitFor(t, "both streams in the hub", func() bool { return e.srv.LiveConnections() == 2 })

		bidsPath := "/api/v1/auctions/" + itoa(a.ID) + "/bids"
		for i := range 40 {
			e.do("POST", bidsPath, `{"amount":"`+itoa(int64(10+i))+`.00"}`, as(bob)).expect(t, 201)
			reader.until("the new state", func(ev sseEvent) bool {
				return ev.name == "auction" && ev.msg.Auction.BidCount == i+1
			})
		}
		if q := serverSendQueue(t, stuck); q < 8<<10 {
			t.Fatalf("the server queued only %d bytes for the stuck client: its writes never blocked", q)
		}
		blocked := time.Now()
		deadline := blocked.Add(sseWriteWait + liveWait)
		for e.srv.LiveConnections() != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the stuck stream was still open %v after its writes blocked", time.Since(blocked))
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The reader is the one left.
		e.do("POST", bidsPath, `{"amount":"100.00"}`, as(bob)).expect(t, 201)
		reader.until("the state after the drop", func(ev sseEvent) bool {
			return ev.name == "auction" && ev.msg.Auction.BidCount == 41
		})
	})
}

// dialStuckEvents opens the event stream of auction id with a small receive buffer and never
// reads it.
func dialStuckEvents(t *testing.T, addr string, id int64) *net.TCPConn {
	t.Helper()
	return sendStuck(t, addr, "GET /auctions/"+itoa(id)+"/events HTTP/1.1\r\nHost: "+addr+"\r\nAccept: text/event-stream\r\n\r\n")
}
