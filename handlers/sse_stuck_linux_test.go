package handlers

import (
	"auctionhouse/auction"
	"net"
	"testing"
	"time"
)

// An event-stream client that stops reading is dropped once a write has waited sseWriteWait,
// instead of holding its connection and goroutine for as long as it stays connected, and a
// reading client on the same auction keeps getting every state meanwhile.
func TestSSEStuckClientDropped(t *testing.T) {
	eachStuck(t, func(t *testing.T, e *env, bob session, a auction.View, addr string) {

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
