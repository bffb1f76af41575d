package handlers

import (
	"runtime"
	"strings"
	"testing"

	fws "github.com/fasthttp/websocket"
)

// runningWriters counts the goroutines in a WebSocket writer run. The tests of this package do
// not run in parallel, so they are this test's own.
func runningWriters() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "handlers.(*wsConn).runWriter(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// An idle connection holds no writer goroutine (that is what keeps idle watchers cheap), and
// everything that makes work for its writer is still carried out, by a writer run or by an
// inline write, and leaves none running: a reply to its own bid, a new state from the actor,
// an outbid notice, a logout from the hub.
func TestWSWriterOnlyWhileThereIsWork(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		cyd := e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		addr := listen(t, e)

		watcher, _ := connect(t, addr, a.ID)
		bobWS, _ := connect(t, addr, a.ID, as(bob))
		cydWS, _ := connect(t, addr, a.ID, as(cyd))
		watcher.until("three watchers", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.Watchers == 3 })
		idle := func(when string) {
			t.Helper()
			waitFor(t, "no writer goroutine "+when, func() bool { return runningWriters() == 0 })
		}
		idle("once the connections are idle")

		// A reply (written by the reader itself, or through a writer run when a state holds the
		// role) and a state (the actor's) after the writers ended: none may be left running.
		expectAccepted(t, bobWS.bid("b1", "10.00"), "10.00", true)
		watcher.until("the state after the bid", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.BidCount == 1 })
		idle("after the bid")

		// An outbid notice (the actor's direct message) to a parked writer.
		expectAccepted(t, cydWS.bid("c1", "11.00"), "11.00", true)
		bobWS.until("the outbid notice", func(m liveMsg) bool { return m.Type == "outbid" })
		idle("after the outbid")

		// A logout (the hub's close request) to a parked writer.
		e.do("DELETE", "/api/v1/sessions/current", "", as(bob)).expect(t, 204)
		bobWS.expectClose(fws.CloseNormalClosure)
		watcher.until("the state after the logout", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.Watchers == 2 })
	})
}
