package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// pauseHook is a test hook that, once armed, stops the first goroutine to reach it until the
// test releases it, after telling the test it is there. Unarmed, it does nothing.
type pauseHook struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newPauseHook() *pauseHook { return &pauseHook{entered: make(chan struct{}, 1)} }

// arm makes the next goroutine to reach the hook stop there.
func (h *pauseHook) arm() {
	h.release = make(chan struct{})
	h.armed.Store(true)
}

func (h *pauseHook) run() {
	if h.armed.CompareAndSwap(true, false) {
		h.entered <- struct{}{}
		<-h.release
	}
}

// setHook sets a test hook for the test and clears it after everything the test started
// (registered before the test's server, it runs after the server's clean-up).
func setHook(t *testing.T, hook *func(), fn func()) {
	*hook = fn
	t.Cleanup(func() { *hook = nil })
}

// TestWSLogoutWhileABidIsInHand: a logout that comes after the reader has taken a bid in hand
// and found the connection open must still let the bid's answer out before the close (1000).
// The reader used to mark the message in hand only after that look, so a closing writer could
// find nothing in hand, write its close, and the bid was then placed with no answer ever
// written. (Whether such a bid was placed depended on a random choice in Engine.call between
// the actor's mailbox and the cancelled context, so the old code failed about half the runs.)
func TestWSLogoutWhileABidIsInHand(t *testing.T) {
	pause := newPauseHook()
	setHook(t, &testHookActOn, pause.run)
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		e := newEnv(t, store, Config{DisableRateLimits: true}, io.Discard)
		ann, bob := e.signup("ann"), e.signup("bob")
		a := e.createAuction(ann, nil)
		bobWS, _ := connect(t, listen(t, e), a.ID, as(bob))

		pause.arm()
		bobWS.send(`{"type":"bid","request_id":"x1","amount":"50.00"}`)
		<-pause.entered
		e.do("DELETE", "/api/v1/sessions/current", "", as(bob)).expect(t, 204)
		time.Sleep(50 * time.Millisecond) // the closing writer looks for a message in hand
		close(pause.release)

		var answered bool
		_ = bobWS.conn.SetReadDeadline(time.Now().Add(liveWait))
		for {
			_, data, err := bobWS.conn.ReadMessage()
			if err != nil {
				var ce *fws.CloseError
				if !errors.As(err, &ce) || ce.Code != fws.CloseNormalClosure {
					t.Fatalf("connection ended with %v, want close 1000", err)
				}
				break
			}
			var m liveMsg
			if json.Unmarshal(data, &m) == nil && m.RequestID != nil && *m.RequestID == "x1" {
				answered = m.Type == "bid_accepted" || m.Type == "bid_rejected"
			}
		}
		// The close went out while the reader was paused; let it place the bid or not, and
		// the commit (which a read through the engine waits for) finish.
		time.Sleep(300 * time.Millisecond)
		e.get(a.ID)
		if stored := len(e.bidsOf(a.ID)); stored > 0 && !answered {
			t.Errorf("the bid was placed (%d stored) but its answer never came before the close", stored)
		}
	})
}

// TestWSStateBetweenAnInlineReplysLooks: a new state that comes while the reader, having
// written its answer inline, settles the pacer's wake-ups must still reach the connection at
// once. settleWakes used to take the pacer's wake-up for it as stale, and the state then
// waited for the next ping (25 s) to carry it.
func TestWSStateBetweenAnInlineReplysLooks(t *testing.T) {
	pause := newPauseHook()
	setHook(t, &testHookSettleWakes, pause.run)
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		e := newEnv(t, store, Config{DisableRateLimits: true}, io.Discard)
		ann, bob, cyd := e.signup("ann"), e.signup("bob"), e.signup("cyd")
		a := e.createAuction(ann, nil)
		bobWS, _ := connect(t, listen(t, e), a.ID, as(bob))
		bobWS.send(`{"type":"bid","request_id":"b0","amount":"10.00","max_amount":"100.00"}`)
		expectAccepted(t, bobWS.answer(), "10.00", true)
		// bob's answers now go out inline, from the reader, once his writer has ended.
		waitFor(t, "bob's writer to end", func() bool { return runningWriters() == 0 })

		pause.arm()
		bobWS.send(`{"type":"nothing"}`) // answered with an error, inline; no new state
		<-pause.entered
		// A new state while the reader is between its looks; bob keeps the lead, so no
		// outbid notice comes to wake his writer.
		e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/bids", `{"amount":"20.00"}`, as(cyd)).expect(t, 201)
		time.Sleep(50 * time.Millisecond) // the pacer's inline write finds the role taken
		close(pause.release)

		start := time.Now()
		bobWS.until("the state after cyd's bid", func(m liveMsg) bool {
			return m.Type == "auction" && m.Auction.BidCount == 2
		})
		if waited := time.Since(start); waited > 2*time.Second {
			t.Errorf("the new state came after %v", waited)
		}
	})
}
