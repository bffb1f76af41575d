package handlers

import (
	"runtime"
	"time"

	"auctionhouse/auction"

	"github.com/gofiber/contrib/websocket"
)

// The connection's writer role: at most one goroutine at a time writes data frames, a writer
// run (runWriter) or whoever took the role for one inline write. Frames that are ready together
// go out in one write system call (wsframes.go).

// takeWriterRole takes the writer's role for the caller's goroutine, as kick does for a new
// writer run, if no writer runs and writers may still start (stopWriter has not run). The
// caller gives it up with handOn (or keeps it after a failed write) and then calls
// writers.Done.
func (w *wsConn) takeWriterRole() bool {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.writerRunning || w.writerStopped {
		return false
	}
	w.writerRunning = true
	w.writers.Add(1)
	return true
}

// testHookSettleWakes, set only by tests, runs in settleWakes between its first look at the
// newest state and taking the pacer's wake-up: where a new state may come in the meantime.
var testHookSettleWakes func()

// settleWakes clears what an inline write made stale, so that handOn does not start a writer
// run that would find nothing to do: the pacer's wake-up for a state that has now gone out
// (its room goes back to the pacer), and the kick that came with it. A wake-up for a state
// still owed keeps a kick, so the writer run that handOn starts sends it.
func (w *wsConn) settleWakes() {
	if w.sub.Latest().Seq <= w.lastSeq {
		if testHookSettleWakes != nil {
			testHookSettleWakes()
		}
		if w.takeStateWake() && w.sub.Latest().Seq > w.lastSeq {
			// A state came between the two looks, and the wake-up just taken was the
			// pacer's for it: its inline write found the role taken. Queue the connection
			// with the pacer again, or the state would wait for the next ping to carry it.
			w.s.live.pacer.enqueue(&w.paced)
		}
	}
	// Every other reason for a kick is a condition workWaiting looks at itself.
	select {
	case <-w.wakeC:
	default:
	}
	if w.stateWake.Load() {
		select {
		case w.wakeC <- struct{}{}:
		default:
		}
	}
}

// wsWriterLinger is how long the writer of a connection that bids waits with nothing to write
// before it ends: long enough that a bidder keeps its writer between replies rather than
// starting one per frame. A watcher's writer does not linger (runWriter).
const wsWriterLinger = time.Second

// kick makes sure a writer looks at the connection soon: it starts one if none runs. It never
// blocks, so the actor, the hub and timers may call it. Whoever makes work for the writer
// calls kick after making it, which is what park relies on. It reports false when no writer
// will run again (stopWriter).
func (w *wsConn) kick() bool {
	select {
	case w.wakeC <- struct{}{}:
	default:
	}
	w.wmu.Lock()
	start := !w.writerRunning && !w.writerStopped
	if start {
		w.writerRunning = true
		w.writers.Add(1)
	}
	stopped := w.writerStopped
	w.wmu.Unlock()
	if start {
		go w.runWriter()
	}
	return !stopped
}

// park ends the running writer's turn unless work is waiting; it reports whether it did. Work
// made after park's check comes with a kick, which then finds no writer and starts one.
func (w *wsConn) park() bool {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if w.workWaiting() {
		return false
	}
	w.writerRunning = false
	return true
}

// workWaiting reports whether anything the writer acts on is ready.
func (w *wsConn) workWaiting() bool {
	// A new state is not looked for here: it reaches the writer through the pacer's kick.
	return len(w.wakeC) > 0 || len(w.replies) > 0 ||
		len(w.sub.Direct()) > 0 || w.pingDue.Load() || w.pong.Load() != nil || w.live.closing() ||
		isClosed(w.sub.Done()) || isClosed(w.readerDone)
}

// pingTick runs every wsPingInterval on a runtime timer: no goroutine waits for it. The ping
// waits for its turn in the pacer like a state: watchers that connected together come due
// together, and 10,000 writers woken at once would each grow a stack for it.
func (w *wsConn) pingTick() {
	w.pingDue.Store(true)
	w.s.live.pacer.enqueue(&w.paced)
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if !w.writerStopped {
		w.pinger.Reset(wsPingInterval)
	}
}

// stopWriter is the reader's last word: no writer starts again, the running one (which sees
// readerDone) has ended, and a close asked for in the meantime is still sent, harmless if the
// client is gone and the right code if it is not. The reader is then the only writer.
func (w *wsConn) stopWriter() {
	w.wmu.Lock()
	w.writerStopped = true
	if w.pinger != nil {
		w.pinger.Stop()
	}
	w.wmu.Unlock()
	w.writers.Wait()
	w.takeStateWake()
	if !isClosed(w.writerDone) && w.live.closing() {
		w.sendClose(w.live.closeCode())
	}
	w.endWriting()
}

// endWriting marks that no data frame will be written again. A writer run that calls it keeps
// writerRunning set, so no other run starts.
func (w *wsConn) endWriting() {
	w.endOnce.Do(func() {
		close(w.writerDone)
		w.s.live.writing.Add(-1)
	})
}

// isClosed reports whether ch is closed (or, for a channel never sent on, ready).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// runWriter is one turn of the connection's only writer of data frames. It sends the newest
// state (only if newer than what was sent: states may be skipped, never repeated or
// reordered), the messages for this watcher alone, the reader's replies and pings, until it is
// told to close, the reader stops, or it has nothing to do: at once for a watcher, after
// wsWriterLinger for a connection that has answered bids.
//
// New states come through the hub's statePacer, which wakes a bounded number of writers at a
// time (pacer.go); everything else wakes the writer at once. A run starts by looking at the
// state: one published while no writer ran and before the wake-ups were in place is sent then.
func (w *wsConn) runWriter() {
	defer w.writers.Done()
	defer w.takeStateWake()
	// Only a bidder's writer and a busy auction's watcher's linger (see the park below); a
	// quiet watcher's run allocates no timer for it, since every state and ping starts a run.
	var linger *time.Timer
	var lingerC <-chan time.Time
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	// States are paced: at most one per wsStateInterval, the newest when it is due. A hot
	// auction commits every few milliseconds, and a frame per commit per watcher would spend
	// the server on write syscalls for states nobody can read that fast.
	var pace *time.Timer
	var paceC <-chan time.Time
	defer func() {
		if pace != nil {
			pace.Stop()
		}
	}()
	busy, stateDue, lingering := false, true, false
	for {
		var err error
		// A ping or a pong may be due, after a kick or without one: an inline write may
		// have taken the kick's token (settleWakes) just after the pong was stored.
		if w.pingDue.Load() || w.pong.Load() != nil {
			if err = w.writeFrames(w.appendControl); err != nil {
				w.writeFailed()
				return
			}
		}
		if w.takeStateWake() {
			stateDue = true
		}
		if stateDue && paceC == nil && w.sub.Latest().Seq <= w.lastSeq {
			// The state it was woken for went out already, with an inline reply.
			stateDue = false
		}
		if stateDue && paceC == nil {
			stateDue = false
			if wait := wsStateInterval - time.Since(w.lastState); wait > 0 {
				if pace == nil {
					pace = time.NewTimer(wait)
				} else {
					pace.Reset(wait)
				}
				paceC = pace.C
			} else if err = w.send(nil, true, true); err != nil {
				w.writeFailed()
				return
			}
		}
		// A quiet watcher's writer ends as soon as nothing waits: with thousands of watchers,
		// writers that lingered after a broadcast all held a grown stack at once (BENCHMARKS.md,
		// idle). A bidder's lingers, since its replies come in quick succession. So does the
		// writer of a watcher whose states come fast, when the pacer cannot write them inline:
		// starting one per state of a hot auction costs more than keeping it. Where it can, a
		// lingering writer would only keep the pacer from the cheaper inline write.
		if !lingering && !w.sendQ.usable() && w.statesComeFast() {
			lingering = true
		}
		if !lingering && paceC == nil && w.park() {
			return
		}
		if lingering && linger == nil {
			linger = time.NewTimer(wsWriterLinger)
			lingerC = linger.C
		}
		select {
		case <-w.readerDone:
			// The client closed or vanished; the reader finishes (stopWriter).
			return
		case <-w.live.closeRequested():
			w.finishReplies()
			w.sendClose(w.live.closeCode())
			w.endWriting()
			return
		case <-w.sub.Done():
			w.finishReplies()
			w.sendClose(subscriptionCloseCode(w.sub.Err()))
			w.endWriting()
			return
		case <-paceC:
			paceC, stateDue = nil, false
			err = w.send(nil, true, true)
		case msg := <-w.sub.Direct():
			err = w.writeGathered(msg)
		case msg := <-w.replies:
			err = w.writeGathered(msg)
			lingering = true
		case <-w.wakeC:
			// A kick for a ping or a pong: the top of the loop writes what is due.
		case <-lingerC:
			// A paced state is owed, or there was work in the last period: stay.
			if !busy && paceC == nil && !stateDue && w.park() {
				return
			}
			busy = false
			linger.Reset(wsWriterLinger)
			continue
		}
		busy = true
		if err != nil {
			w.writeFailed()
			return
		}
	}
}

// writeFailed ends a writer whose client is gone or too slow to take a frame: it ends the reader
// now rather than at its deadline.
func (w *wsConn) writeFailed() {
	w.shortenReadDeadline(0)
	w.endWriting()
}

// appendControl appends our ping if one is due and the pong owed to the client's newest ping,
// if any. The holder of the writer's role calls it, so these go out in order with the data
// frames, under their deadline.
func (w *wsConn) appendControl(out []byte) []byte {
	if w.pingDue.Swap(false) {
		out = appendControlFrame(out, opPing, nil)
	}
	if p := w.pong.Swap(nil); p != nil {
		out = appendControlFrame(out, opPong, *p)
	}
	return out
}

// answerPing is the ping handler: it leaves the pong to the writer and wakes it. Written here,
// on the reader's goroutine, as the library's default handler does, the pong would set the
// socket's write deadline to a second of its own and cut short a data write that was waiting
// for the client. When pings come faster than the writer answers, only the newest is answered,
// as RFC 6455 §5.5.3 allows. The library refuses a ping of more than 125 bytes, so the pong
// fits a control frame. After the writer has stopped for good the connection is closing, and
// the pong is dropped.
func (w *wsConn) answerPing(data string) error {
	p := []byte(data)
	w.pong.Store(&p)
	w.kick()
	return nil
}

// writeClose writes a close frame with the library, which sets the socket's write deadline to
// wsWriteWait from now, and then tells the data frames so (writeDeadline).
func (w *wsConn) writeClose(code int, reason string) error {
	err := w.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(wsWriteWait))
	w.writeDL.controlWrote()
	return err
}

// wsFrameOverhead is the most a WebSocket frame adds to its payload: a server's frames carry a
// header of at most 10 bytes and no mask; control frames are smaller than any state.
const wsFrameOverhead = 14

// handOn gives up the writer's role taken by writeInline, or hands it to a new writer run when
// work is waiting.
func (w *wsConn) handOn() {
	if !w.park() {
		w.writers.Add(1)
		go w.runWriter()
	}
}

// wsReplyGrace bounds how long a closing writer waits for a reply the reader still owes.
const wsReplyGrace = 2 * time.Second

// finishReplies writes the replies still owed before the close frame goes out. At shutdown the
// engine stores and answers the bids it accepted before it ends the subscriptions; without
// this, the close could overtake such a bid's acknowledgement, and a client would retry a bid
// that was in fact placed.
func (w *wsConn) finishReplies() {
	w.finishing.Store(true)
	grace := time.NewTimer(wsReplyGrace)
	defer grace.Stop()
	for {
		// Read the flag before draining: a reply queued before the flag went down is then
		// always seen by the drain.
		busy := w.handling.Load()
		for drained := false; !drained; {
			select {
			case msg := <-w.replies:
				if w.write(msg) != nil {
					return
				}
			default:
				drained = true
			}
		}
		if !busy {
			return
		}
		select {
		case msg := <-w.replies:
			if w.write(msg) != nil {
				return
			}
		case <-w.readerDone:
		case <-grace.C:
			return
		}
	}
}

// writeGathered sends msg and, in the same write, the replies, the messages for this watcher
// alone and the paced state that are ready too.
func (w *wsConn) writeGathered(msg []byte) error {
	return w.send(msg, false, true)
}

// write sends msg alone.
func (w *wsConn) write(msg []byte) error {
	return w.send(msg, false, false)
}

// send writes, in one system call, the newest state if withState and it is new, msg if not
// nil, and, if gather, whatever else is ready (appendReady).
func (w *wsConn) send(msg []byte, withState, gather bool) error {
	return w.writeFrames(func(out []byte) []byte {
		if withState {
			out = w.appendState(out)
		}
		if msg != nil {
			out = appendTextFrame(out, msg)
		}
		if gather {
			// A bid's acknowledgement and its state come by different goroutines (the
			// reader, the pacer) a moment apart; letting them run first puts both in this
			// write. In the many scenario this took 9.6k to 11.3k bids/s (BENCHMARKS.md).
			runtime.Gosched()
			out = w.appendReady(out)
		}
		return out
	})
}

// writeFrames has build append frames to a buffer from framePool and writes them in one system
// call. A buffer that a long gather grew stays out of the pool.
func (w *wsConn) writeFrames(build func(out []byte) []byte) error {
	bp := framePool.Get().(*[]byte)
	out := build((*bp)[:0])
	err := w.writeOut(out)
	if cap(out) <= 4*wsGatherMax {
		*bp = out[:0]
		framePool.Put(bp)
	}
	return err
}

// writeOut writes out, the frames one send gathered, if there are any.
func (w *wsConn) writeOut(out []byte) error {
	if len(out) == 0 {
		return nil
	}
	if now := time.Now(); w.writeDL.due(now) {
		if err := w.socket.SetWriteDeadline(w.writeDL.at); err != nil {
			return err
		}
	}
	_, err := w.socket.Write(out)
	w.sendQ.wrote(len(out))
	return err
}

// appendState appends the newest state if it is newer than the last one sent, and counts it
// as sent.
func (w *wsConn) appendState(out []byte) []byte {
	return w.appendUpdate(out, w.sub.Latest())
}

// appendUpdate appends u if it is newer than the last state sent, and counts it as sent.
func (w *wsConn) appendUpdate(out []byte, u *auction.Update) []byte {
	if u.Seq <= w.lastSeq {
		return out
	}
	w.s.metrics.BroadcastDelivered(time.Since(u.Encoded))
	w.lastSeq, w.prevState, w.lastState = u.Seq, w.lastState, time.Now()
	return appendTextFrame(out, u.JSON)
}

// appendReady appends the replies and the messages for this watcher alone that are waiting,
// and the state the pacer woke the writer for, if its pace allows it now.
func (w *wsConn) appendReady(out []byte) []byte {
	for len(out) < wsGatherMax {
		select {
		case msg := <-w.replies:
			out = appendTextFrame(out, msg)
			continue
		case msg := <-w.sub.Direct():
			out = appendTextFrame(out, msg)
			continue
		default:
		}
		break
	}
	if w.stateWake.Load() && time.Since(w.lastState) >= wsStateInterval && w.takeStateWake() {
		out = w.appendState(out)
	}
	return out
}
