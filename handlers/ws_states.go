package handlers

import (
	"time"

	"auctionhouse/auction"
)

// How new states reach a connection: through the hub's statePacer (pacer.go), which writes
// them inline when the socket has room, or wakes the connection's writer.

// engineWake is the subscription's wake-up (Subscription.SetWake). A message for this watcher
// alone or the end of the subscription wakes the writer at once; a new state, which every
// watcher of the auction gets at the same moment, waits for its turn in the hub's statePacer.
//
// A message for this watcher alone that comes while the connection waits in the pacer for a
// state (an outbid notice comes right after the state that says so) waits with it, so that the
// pacer's inline write carries both: starting a writer for it cost a goroutine, a select and a
// write of its own for every outbid bidder (BENCHMARKS.md, many). The pacer clears queued
// before it serves the entry, and the message is in Direct before this wake-up, so a queued
// entry seen here is served after the message is there to be gathered.
func (w *wsConn) engineWake() {
	if isClosed(w.sub.Done()) {
		w.kick()
		return
	}
	if len(w.sub.Direct()) > 0 {
		if w.paced.inline == nil || !w.paced.queued.Load() {
			w.kick()
		}
		return
	}
	w.s.live.pacer.enqueue(&w.paced)
}

// wakeForState is the statePacer's wake-up, for a new state or a ping due. The room it took is
// given back by the writer when it runs, or here when no writer will run again.
func (w *wsConn) wakeForState() {
	if w.stateWake.Swap(true) {
		// Woken again before the writer took the first wake-up: one run serves both, so one
		// room is given back now.
		w.s.live.pacer.ran()
	}
	if !w.kick() {
		w.takeStateWake()
	}
}

// writeInline is the pacer's cheap path for a state or a ping (paceEntry.inline): when no
// writer runs, the state is not early for its pace, and the socket's send queue has room for
// the frame, the pacer's goroutine writes it itself. Such a write cannot wait for the client,
// so a slow client never holds the pacer up; otherwise it reports false and the connection's
// writer is woken as before. Under a broadcast to 10,000 watchers, waking a goroutine per
// frame cost as much CPU as the write system call itself (BENCHMARKS.md, fanout).
//
// It takes the writer's role the way kick does, so no writer run, and not stopWriter, writes
// meanwhile, and hands the role on (park) when it is done.
func (w *wsConn) writeInline() bool {
	if !w.takeWriterRole() {
		return false
	}
	defer w.writers.Done()

	u := w.sub.Latest()
	owesState := u.Seq > w.lastSeq
	if (owesState && time.Since(w.lastState) < wsStateInterval) || !w.sendQ.hasRoom(len(u.JSON)+wsFrameOverhead) {
		w.handOn()
		return false
	}
	if err := w.writeStateAndDirect(); err != nil {
		// The role stays taken, as after a writer run that failed: nothing writes again.
		w.writeFailed()
		return true
	}
	w.handOn()
	return true
}

// writeStateAndDirect writes, in one system call, the newest state if it is new and the
// messages for this watcher alone, as long as the send queue has room for another of them
// (auction.MaxDirectMessage); the caller holds the writer's role and has checked that the state
// fits. What is left waits for the writer run that handOn then starts.
func (w *wsConn) writeStateAndDirect() error {
	return w.writeFrames(func(out []byte) []byte {
		out = w.appendControl(out)
		out = w.appendState(out)
		for len(out) < wsGatherMax && w.sendQ.hasRoom(len(out)+auction.MaxDirectMessage+wsFrameOverhead) {
			select {
			case msg := <-w.sub.Direct():
				out = appendTextFrame(out, msg)
				continue
			default:
			}
			break
		}
		return out
	})
}

// takeStateWake reports whether the pacer woke this connection for a state since the last
// call, and gives the pacer its room back. It is called by each writer run and by stopWriter,
// so that a connection that closes does not keep the room.
func (w *wsConn) takeStateWake() bool {
	if w.stateWake.Swap(false) {
		w.s.live.pacer.ran()
		return true
	}
	return false
}

// wsFastStates: a watcher whose last two states were sent closer together than this is
// watching a busy auction, and its writer lingers like a bidder's.
const wsFastStates = 500 * time.Millisecond

// statesComeFast reports whether the last two states went out less than wsFastStates apart.
func (w *wsConn) statesComeFast() bool {
	return !w.prevState.IsZero() && w.lastState.Sub(w.prevState) < wsFastStates
}

// wsStateInterval is the shortest time between two state frames to one connection. Replies and
// outbid notices are never paced. 40 states a second is more than a person can read; at 10 ms,
// state frames to the 200 bidders of the hot scenario were as many as its bids, and its ack p99
// was 25 ms instead of 18–22 (BENCHMARKS.md).
const wsStateInterval = 25 * time.Millisecond
