package handlers

import (
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
)

func TestWriteDeadlineDue(t *testing.T) {
	t0 := time.Now()
	var d writeDeadline
	steps := []struct {
		name    string
		control bool // a control frame went out just before
		at      time.Duration
		due     bool
	}{
		{"the first frame sets it", false, 0, true},
		{"a frame right after does not", false, 500 * time.Millisecond, false},
		{"nor one just before a refresh is due", false, wsDeadlineRefresh - time.Millisecond, false},
		{"nor one with exactly wsWriteWait left", false, wsDeadlineRefresh, false},
		{"a frame with less left sets it", false, wsDeadlineRefresh + time.Millisecond, true},
		{"after a close frame the next frame sets it", true, wsDeadlineRefresh + 2*time.Millisecond, true},
		{"and the one after does not", false, wsDeadlineRefresh + 3*time.Millisecond, false},
		{"after a long silence it is set", false, time.Hour, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.control {
				d.controlWrote()
			}
			now := t0.Add(s.at)
			if got := d.due(now); got != s.due {
				t.Fatalf("due at +%v = %v, want %v", s.at, got, s.due)
			}
			if left := d.at.Sub(now); left < wsWriteWait || left > wsWriteWait+wsDeadlineRefresh {
				t.Fatalf("a frame at +%v has %v to finish, want between %v and %v", s.at, left, wsWriteWait, wsWriteWait+wsDeadlineRefresh)
			}
		})
	}
}

func TestReadDeadlineDue(t *testing.T) {
	t0 := time.Now()
	var d readDeadline
	for _, s := range []struct {
		at  time.Duration
		due bool
	}{
		{0, true},
		{wsDeadlineRefresh / 2, false},
		{wsDeadlineRefresh - time.Millisecond, false},
		{wsDeadlineRefresh, true},
		{wsDeadlineRefresh + time.Millisecond, false},
		{time.Minute, true},
	} {
		if got := d.due(t0.Add(s.at)); got != s.due {
			t.Fatalf("due at +%v = %v, want %v", s.at, got, s.due)
		}
	}
}

// A client's ping is answered by the connection's writer, with the data frames and under their
// deadline: the pong arrives, and the states after it keep coming. (Written by the library on
// the reader's goroutine, a pong set the socket's deadline to a second of its own.)
func TestWSPingAnsweredBetweenStates(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		addr := listen(t, e)

		watcher, _ := connect(t, addr, a.ID)
		bobWS, _ := connect(t, addr, a.ID, as(bob))
		pong := make(chan struct{}, 1)
		watcher.conn.SetPongHandler(func(string) error {
			pong <- struct{}{}
			return nil
		})
		if err := watcher.conn.WriteControl(fws.PingMessage, []byte("p"), time.Now().Add(liveWait)); err != nil {
			t.Fatal(err)
		}
		// The pong is handled while the watcher reads; the bid's state follows it, later than
		// the deadline a pong of the library's would have set.
		time.Sleep(wsDeadlineRefresh + 200*time.Millisecond)
		expectAccepted(t, bobWS.bid("b1", "10.00"), "10.00", true)
		watcher.until("the state after the bid", func(m liveMsg) bool { return m.Type == "auction" && m.Auction.BidCount == 1 })
		select {
		case <-pong:
		default:
			t.Fatal("the server never answered the ping")
		}
	})
}
