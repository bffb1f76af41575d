package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// WebSocket parameters (PROTOCOL.md §6).
const (
	// wsMaxMessage is the largest client message; a bigger one closes the connection (1009).
	wsMaxMessage = 4096
	// wsBufferSize is the read buffer each connection keeps (and the library's pooled write
	// buffer, which only control frames use: data frames are ours, wsframes.go). A bid is
	// about a hundred bytes; a longer message is read in several pieces, and a control frame
	// (at most 131 bytes) fits. 512 rather than 1024 took idle watchers from 19.5 to 18.9 KiB
	// each with 30 s of pings (BENCHMARKS.md).
	wsBufferSize = 512
	// wsPingInterval is how often the server pings; wsPongWait is how long a silent client
	// lives. Two pings fit in the wait, so one lost pong does not drop a client.
	wsPingInterval = 25 * time.Second
	wsPongWait     = 60 * time.Second
	// wsWriteWait bounds one write; a client that cannot take a frame in this time is gone.
	wsWriteWait = 10 * time.Second
	// wsCloseGrace is how long we wait for the client's answer to our close frame before
	// dropping the TCP connection.
	wsCloseGrace = 5 * time.Second
	// wsReplyQueue bounds the answers waiting for one connection's writer. A client that lets
	// it fill does not read its own replies and is closed with 1008.
	wsReplyQueue = 16
	// wsDrainQuiet and wsDrainMax bound reading away an oversized message after the 1009 close
	// (see drainAfterTooBig).
	wsDrainQuiet = 250 * time.Millisecond
	wsDrainMax   = 64 << 10
)

// wsParamsKey is the Locals key that carries wsParams across the upgrade. It is a string
// because the upgrader copies only string-keyed locals to the connection.
const wsParamsKey = "auctionhouse.ws.params"

// wsParams is what the checks before the upgrade learned, for the connection's handler.
type wsParams struct {
	auctionID int64
	user      *models.User    // nil: anonymous, may watch but not bid
	session   *models.Session // the session that authenticated user
	logouts   uint64          // liveHub.logoutMark before authenticating
	addr      string
}

// wsPreflight refuses, with an HTTP status and the JSON error shape, what must not be
// upgraded: a request that is not a WebSocket handshake (426), a browser page from a foreign
// or "null" origin (403: the library's default would accept every origin, which would let any
// site bid with a visitor's cookie), an address with too many live connections (429), and an
// id that cannot name an auction (404).
func (s *Server) wsPreflight(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		c.Set(fiber.HeaderUpgrade, "websocket")
		return fiber.NewError(fiber.StatusUpgradeRequired, "this endpoint speaks WebSocket only; send a WebSocket handshake, or use GET /auctions/{id}/events for server-sent events")
	}
	if !s.live.originAllowed(c.Get(fiber.HeaderOrigin), string(c.Request().Host())) {
		return auction.Errorf(auction.CodeForbidden, "WebSocket connections from this origin are not allowed")
	}
	if _, err := auctionIDParam(c); err != nil {
		return err
	}
	return s.liveAddrCap(c)
}

// wsPrepare runs after authenticate: it refuses a user with too many live connections (429)
// and answers 404 for an unknown auction while those can still be HTTP statuses, and hands who
// is connecting to the connection's handler.
func (s *Server) wsPrepare(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	if err := s.checkUserCap(c); err != nil {
		return err
	}
	if _, err := s.engine.Get(c.UserContext(), id); err != nil {
		return err
	}
	p := &wsParams{auctionID: id, logouts: logoutMarkOf(c), addr: s.clientIP(c)}
	if ident := identityOf(c); ident != nil {
		p.user, p.session = ident.user, ident.session
	}
	c.Locals(wsParamsKey, p)
	return c.Next()
}

// newUpgrader builds the upgrade handler. Origins stay at the library's default because
// wsPreflight already decided; the buffers are small and the write buffer pooled, so that
// thousands of idle watchers cost little.
func (s *Server) newUpgrader(pool *sync.Pool) fiber.Handler {
	return websocket.New(s.serveWS, websocket.Config{
		ReadBufferSize:  wsBufferSize,
		WriteBufferSize: wsBufferSize,
		WriteBufferPool: pool,
		RecoverHandler: func(conn *websocket.Conn) {
			if r := recover(); r != nil {
				s.log.Error("panic in WebSocket handler", "panic", r)
			}
		},
	})
}

// wsConn is one WebSocket connection. The handler's goroutine reads and answers bids; a writer
// goroutine alone writes data frames, or the hub's pacer while it holds the writer's role for
// one state (writeInline). The writer runs only while there is something to write:
// whatever makes work for it (a new state, an outbid notice, a reply, a close request, a ping
// due) calls kick, which starts one if none runs, and a writer with nothing to do for
// wsWriterLinger ends. An idle watcher then holds one goroutine, not two: 10,000 idle watchers
// held 39 MB less goroutine stack once a GC had freed the ended writers' (BENCHMARKS.md). They
// share:
//   - replies: the reader's answers, for the writer to send;
//   - live: the hub's handle, whose close request (logout, or the reader giving up on a client
//     that does not read) the writer carries out;
//   - readerDone / writerDone, so that each learns the other stopped.
//
// The handler does not return before the writer has stopped and the subscription is closed:
// the library recycles the connection when the handler returns.
type wsConn struct {
	s      *Server
	conn   *websocket.Conn
	p      *wsParams
	live   *liveConn
	sub    *auction.Subscription
	ctx    context.Context
	cancel context.CancelFunc

	replies    chan []byte
	readerDone chan struct{}
	// writerDone is closed when writing has ended for good: a close frame went out, a write
	// failed, or the reader stopped the writer (endWriting).
	writerDone chan struct{}
	endOnce    sync.Once

	// wmu guards writerRunning and writerStopped, and so orders one writer run after another.
	wmu sync.Mutex
	// writerRunning: a writer goroutine owns the connection's writes (at first, before the
	// snapshot is sent, the handler does). writerStopped: none may start again.
	writerRunning bool
	writerStopped bool
	writers       sync.WaitGroup // the writer runs, for stopWriter to wait on
	// wakeC holds a token after kick, so that a running writer looks at pingDue and cannot
	// end while something it has not seen is waiting (park).
	wakeC   chan struct{}
	pingDue atomic.Bool
	// paced is the connection's place in the hub's statePacer. stateWake: the pacer woke the
	// writer for a state and has not had its room back (takeStateWake).
	paced     paceEntry
	stateWake atomic.Bool
	// sendQ tells whether a frame fits in the socket's send queue (writeInline). socket is
	// where data frames are written (wsframes.go).
	sendQ  *sendQueue
	socket net.Conn
	// writeDL is the socket's write deadline as data frames last set it (wsdeadline.go).
	writeDL writeDeadline
	pinger  *time.Timer // guarded by wmu
	// The last state sent and when; only the running writer uses them.
	lastSeq   int64
	lastState time.Time
	prevState time.Time // when the state before the last one was sent
	// handling is set while the reader works on a message, so that a closing writer can wait
	// for the reply it owes (finishReplies).
	handling atomic.Bool

	// deadlineMu orders the pong handler's deadline extensions against the shortened deadline
	// of a closing connection, so that a late pong cannot keep a closing connection open.
	deadlineMu   sync.Mutex
	closingReads bool
	readDL       readDeadline
}

// serveWS is the connection's handler, called after the upgrade.
//
// Its goroutine is the connection's reader for as long as the socket lives, and a goroutine's
// stack keeps the size its deepest call needed. So the deep work of setting up (the session
// check, subscribing, encoding and writing the snapshot) runs on a goroutine of its own that
// ends after it (onFreshStack), and an idle watcher's reader keeps only the stack a blocked read
// needs: 10,000 idle watchers held 8.5 KiB of stack each before (BENCHMARKS.md, idle).
func (s *Server) serveWS(conn *websocket.Conn) {
	// Before any read, including those that wait for a client's close answer.
	conn.SetReadLimit(wsMaxMessage)
	p, _ := conn.Locals(wsParamsKey).(*wsParams)
	if p == nil {
		// Only a routing mistake gets here.
		s.log.Error("WebSocket upgraded without its parameters")
		closeAndWait(conn, closeInternalError, "internal error")
		return
	}
	w := s.newWSConn(conn, p)
	defer w.cancel()
	defer w.release()
	var started bool
	onFreshStack(func() { started = w.start() })
	if !started {
		return
	}
	tooBig := false
	defer func() {
		// Stop the writer and wait for it before the subscription closes and the handler
		// returns, on a panic too: the library recycles the connection afterwards.
		close(w.readerDone)
		w.stopWriter()
		w.cancel()
		if tooBig {
			drainAfterTooBig(conn)
		}
	}()
	tooBig = w.readLoop()
}

func (s *Server) newWSConn(conn *websocket.Conn, p *wsParams) *wsConn {
	ctx, cancel := context.WithCancel(context.Background())
	w := &wsConn{
		s:          s,
		conn:       conn,
		p:          p,
		ctx:        ctx,
		cancel:     cancel,
		replies:    make(chan []byte, wsReplyQueue),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
		wakeC:      make(chan struct{}, 1),
		// The handler writes until it hands over to the writer runs, after the snapshot.
		writerRunning: true,
	}
	var sessionID, userID int64
	if p.user != nil {
		sessionID, userID = p.session.ID, p.user.ID
	}
	w.live = newLiveConn(sessionID, userID, p.addr)
	w.live.wake = func() { w.kick() }
	w.paced.wake = w.wakeForState
	w.socket = socketOf(conn.NetConn())
	if w.sendQ = newSendQueue(w.socket); w.sendQ.usable() {
		w.paced.inline = w.writeInline
	}
	return w
}

// start registers the connection, subscribes, sends the snapshot and hands writing over to
// the writer runs. It reports false when the connection cannot go on; it has then closed it,
// and release undoes the rest.
func (w *wsConn) start() bool {
	s, p, conn := w.s, w.p, w.conn
	if !s.live.register(w.live, p.logouts) {
		valid, err := s.sessionStillValid(w.ctx, p.session)
		if err != nil {
			s.log.Error("check session of a new WebSocket", "err", err)
			closeAndWait(conn, closeInternalError, "internal error")
			return false
		}
		if !valid {
			// It signed out while connecting: as if the logout had come a moment later.
			closeAndWait(conn, closeNormal, "signed out")
			return false
		}
	}

	sub, err := s.engine.Subscribe(w.ctx, p.auctionID, w.live.userID)
	if err != nil {
		if errors.Is(err, auction.ErrUnavailable) {
			closeAndWait(conn, closeGoingAway, "server shutting down")
		} else {
			s.log.Error("subscribe a WebSocket", "auction", p.auctionID, "err", err)
			closeAndWait(conn, closeInternalError, "internal error")
		}
		return false
	}
	w.sub = sub

	seq, snapshot, err := s.snapshotMessage(sub)
	if err != nil {
		s.log.Error("encode snapshot", "auction", p.auctionID, "err", err)
		closeAndWait(conn, closeInternalError, "internal error")
		return false
	}
	if err := w.write(snapshot); err != nil {
		return false
	}
	w.lastSeq = seq

	w.extendReadDeadline()
	conn.SetPongHandler(func(string) error {
		w.extendReadDeadline()
		return nil
	})
	conn.SetPingHandler(w.answerPing)
	// The library's answer to a client's close frame sets the write deadline too.
	answerClose := conn.CloseHandler()
	conn.SetCloseHandler(func(code int, text string) error {
		err := answerClose(code, text)
		w.writeDL.controlWrote()
		return err
	})
	w.sub.SetWake(w.engineWake)
	w.wmu.Lock()
	w.pinger = time.AfterFunc(wsPingInterval, w.pingTick)
	w.wmu.Unlock()
	// Hand the writes over. A state published before the wake-up was in place woke nobody, so
	// it is looked for here; anything later comes with a kick, which park sees.
	if w.sub.Latest().Seq > w.lastSeq || !w.park() {
		w.writers.Add(1)
		go w.runWriter()
	}
	return true
}

// release ends the subscription and takes the connection off the hub; safe on a connection
// that start left half set up.
func (w *wsConn) release() {
	if w.sub != nil {
		w.sub.Close()
	}
	w.s.live.unregister(w.live)
}

// onFreshStack runs f on a new goroutine and waits for it, so that the stack f grows is freed
// when f returns rather than kept by the caller. A panic in f goes on in the caller, where the
// handler's recovery sees it.
func onFreshStack(f func()) {
	done := make(chan any, 1)
	go func() {
		panicked := true
		defer func() {
			if panicked {
				done <- recover()
			}
		}()
		f()
		panicked = false
		done <- nil
	}()
	if r := <-done; r != nil {
		panic(r)
	}
}

// readLoop reads and answers client messages until the connection ends. It reports whether
// it ended on a message over the read limit.
func (w *wsConn) readLoop() (tooBig bool) {
	for {
		mt, buf, err := w.readMessage()
		if err != nil {
			if errors.Is(err, fws.ErrReadLimit) {
				// The library sends 1009 itself; should it ever stop doing so, this sends it.
				// Otherwise it fails with ErrCloseSent and sends nothing.
				w.cancel()
				_ = w.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTooBig, "message too big"), wsWriteWait)
				return true
			}
			return false
		}
		w.extendReadDeadline()
		w.actOn(mt, *buf)
		releaseMessage(buf)
	}
}

// actOn answers one client message, unless the connection is closing.
func (w *wsConn) actOn(mt int, data []byte) {
	if w.stopping() {
		// A close frame went out or is about to: only the client's answer matters now.
		return
	}
	if mt != websocket.TextMessage {
		w.answer(errorMessage(nil, auction.Errorf(auction.CodeInvalidRequest, "messages must be JSON text frames")))
		return
	}
	w.handling.Store(true)
	w.answer(w.handle(data))
	w.handling.Store(false)
}

// messagePool holds the buffers client messages are read into: the library's ReadMessage
// allocates a new one for every message, and nothing of a message outlives its handling
// (decoding copies what it keeps). A buffer is taken only once a message has begun, so an idle
// connection holds none.
var messagePool = sync.Pool{New: func() any {
	b := make([]byte, 0, wsBufferSize)
	return &b
}}

// readMessage is the library's ReadMessage into a buffer from messagePool, which the caller
// gives back with releaseMessage; on an error there is no buffer.
func (w *wsConn) readMessage() (int, *[]byte, error) {
	mt, r, err := w.conn.NextReader()
	if err != nil {
		return mt, nil, err
	}
	bp := messagePool.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			*bp = b
			return mt, bp, nil
		}
		if err != nil {
			*bp = b
			releaseMessage(bp)
			return mt, nil, err
		}
	}
}

// releaseMessage gives a message buffer back to messagePool; one grown by a long message is
// dropped (the read limit bounds it anyway).
func releaseMessage(bp *[]byte) {
	if bp == nil || cap(*bp) > wsMaxMessage {
		return
	}
	*bp = (*bp)[:0]
	messagePool.Put(bp)
}

// stopping reports whether the connection is closing, so that messages still arriving are
// no longer acted on.
func (w *wsConn) stopping() bool {
	if w.live.closing() {
		return true
	}
	select {
	case <-w.writerDone:
		return true
	default:
		return false
	}
}

// answer sends the reader's answer to the client: written by the reader itself when it can
// (writeReplyInline), else queued for the writer (reply).
func (w *wsConn) answer(msg []byte) {
	if !w.writeReplyInline(msg) {
		w.reply(msg)
	}
}

// writeReplyInline is the reader's cheap path for its own answer: when no writer runs and the
// socket's send queue has room for the frame, the reader writes it, with the newest state if
// that is new and its pace allows, in one system call. Handing each answer to the writer
// goroutine cost a wake-up and the writer's select per bid: a third of the server's CPU in the
// many scenario went to the writer runs (BENCHMARKS.md). Like writeInline, it takes the
// writer's role, so nothing else writes meanwhile, and it never waits for the client: a
// client that does not read fills its queue, and its answers then go through reply as before,
// which closes it with 1008 when too many wait.
func (w *wsConn) writeReplyInline(msg []byte) bool {
	if !w.takeWriterRole() {
		return false
	}
	defer w.writers.Done()
	u := w.sub.Latest()
	withState := u.Seq > w.lastSeq && time.Since(w.lastState) >= wsStateInterval
	n := len(msg) + wsFrameOverhead
	if withState {
		n += len(u.JSON) + wsFrameOverhead
	}
	if !w.sendQ.hasRoom(n) {
		w.handOn()
		return false
	}
	err := w.writeFrames(func(out []byte) []byte {
		if withState {
			out = w.appendUpdate(out, u)
		}
		return appendTextFrame(out, msg)
	})
	if err != nil {
		// The role stays taken, as after a writer run that failed: nothing writes again.
		w.writeFailed()
		return true
	}
	w.settleWakes()
	w.handOn()
	return true
}

// takeWriterRole takes the writer's role for the caller's goroutine, as kick does for a new
// writer run, if no writer runs and none may start again. The caller gives it up with handOn
// (or keeps it after a failed write) and then calls writers.Done.
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

// settleWakes clears what an inline write made stale, so that handOn does not start a writer
// run that would find nothing to do: the pacer's wake-up for a state that has now gone out
// (its room goes back to the pacer), and the kick that came with it. A wake-up for a state
// still owed keeps a kick, so the writer run that handOn starts sends it.
func (w *wsConn) settleWakes() {
	if w.sub.Latest().Seq <= w.lastSeq {
		w.takeStateWake()
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

// reply queues an answer for the writer without ever blocking the reader.
func (w *wsConn) reply(msg []byte) {
	select {
	case w.replies <- msg:
		w.kick()
	default:
		w.live.requestClose(closePolicy, "too many unread replies")
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
		len(w.sub.Direct()) > 0 || w.pingDue.Load() || w.live.closing() ||
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
	w.endOnce.Do(func() { close(w.writerDone) })
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
			if w.pingDue.Swap(false) {
				err = w.ping()
			}
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
	var err error
	if w.pingDue.Swap(false) {
		err = w.ping()
	}
	if err == nil {
		err = w.writeStateAndDirect()
	}
	if err != nil {
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

// ping sends a ping frame (2 bytes: no payload).
func (w *wsConn) ping() error {
	w.sendQ.wrote(2)
	return w.writeControl(websocket.PingMessage, nil, wsWriteWait)
}

// answerPing is the library's default ping handler, with the pong counted in the send queue.
func (w *wsConn) answerPing(data string) error {
	w.sendQ.wroteControl(2 + len(data))
	// A best effort, as the default's: a pong that cannot go out ends nothing.
	_ = w.writeControl(websocket.PongMessage, []byte(data), wsPongWriteWait)
	return nil
}

// writeControl writes a control frame with the library, which sets the socket's write
// deadline to wait from now, and then tells the data frames so (writeDeadline).
func (w *wsConn) writeControl(messageType int, data []byte, wait time.Duration) error {
	err := w.conn.WriteControl(messageType, data, time.Now().Add(wait))
	w.writeDL.controlWrote()
	return err
}

// wsPongWriteWait bounds writing a pong, as the library's default ping handler does.
const wsPongWriteWait = time.Second

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

// wsReplyGrace bounds how long a closing writer waits for a reply the reader still owes.
const wsReplyGrace = 2 * time.Second

// finishReplies writes the replies still owed before the close frame goes out. At shutdown the
// engine stores and answers the bids it accepted before it ends the subscriptions; without
// this, the close could overtake such a bid's acknowledgement, and a client would retry a bid
// that was in fact placed.
func (w *wsConn) finishReplies() {
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

// subscriptionCloseCode is the close code for a subscription the engine ended.
func subscriptionCloseCode(err error) (int, string) {
	if errors.Is(err, auction.ErrSlowConsumer) {
		return closePolicy, "too slow for its own messages"
	}
	// ErrShutdown, and anything else the engine ends a subscription for, is the server going
	// away from this client's point of view.
	return closeGoingAway, "server shutting down"
}

// sendClose sends a close frame and gives the client wsCloseGrace to answer it; the reader
// keeps reading until the answer (a CloseError) or the deadline.
func (w *wsConn) sendClose(code int, reason string) {
	w.cancel()
	err := w.writeControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), wsWriteWait)
	if err != nil {
		w.shortenReadDeadline(0)
		return
	}
	w.shortenReadDeadline(wsCloseGrace)
}

// extendReadDeadline gives the client another wsPongWait at least (wsdeadline.go), unless the
// connection is closing.
func (w *wsConn) extendReadDeadline() {
	w.deadlineMu.Lock()
	defer w.deadlineMu.Unlock()
	if now := time.Now(); !w.closingReads && w.readDL.due(now) {
		_ = w.conn.SetReadDeadline(now.Add(wsPongWait + wsDeadlineRefresh))
	}
}

// shortenReadDeadline ends reading after d (at once for 0), for good.
func (w *wsConn) shortenReadDeadline(d time.Duration) {
	w.deadlineMu.Lock()
	defer w.deadlineMu.Unlock()
	w.closingReads = true
	_ = w.conn.SetReadDeadline(time.Now().Add(d))
}

// drainAfterTooBig reads away the rest of an oversized message after the 1009 close frame.
// Closing a TCP socket with unread data makes the kernel send a reset, which can destroy the
// close frame before the client has read it. The reader has stopped, so the raw connection is
// ours; the WebSocket framing no longer matters.
func drainAfterTooBig(conn *websocket.Conn) {
	nc := conn.NetConn()
	if nc == nil {
		return
	}
	buf := make([]byte, 512)
	end := time.Now().Add(wsCloseGrace)
	for total := 0; total < wsDrainMax; {
		// Stop at the first quiet moment: what was sent with the big message has arrived.
		deadline := time.Now().Add(wsDrainQuiet)
		if deadline.After(end) {
			deadline = end
		}
		_ = nc.SetReadDeadline(deadline)
		n, err := nc.Read(buf)
		total += n
		if err != nil {
			return
		}
	}
}

// closeAndWait closes a connection that has no writer goroutine (yet) and waits briefly for
// the client's answer, for the paths that give up right after the upgrade.
func closeAndWait(conn *websocket.Conn, code int, reason string) {
	if err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(wsWriteWait)); err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(wsCloseGrace))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// wsClientMessage is any message from the client. Only "bid" exists; its fields are those of
// the HTTP bid body and are checked by the same code (bidRequest.toBid).
type wsClientMessage struct {
	Type *string `json:"type"`
	bidRequest
}

// wsBid is the stored bid in a bid_accepted message.
type wsBid struct {
	ID        int64  `json:"id"`
	Amount    string `json:"amount"`
	CreatedAt string `json:"created_at"`
}

type wsBidAccepted struct {
	Type      string  `json:"type"`
	RequestID *string `json:"request_id,omitempty"`
	Bid       wsBid   `json:"bid"`
	Leading   bool    `json:"leading"`
}

// wsErrorMessage is both bid_rejected and error: {"type","request_id"?,"error":{"code","message"}}.
type wsErrorMessage struct {
	Type      string      `json:"type"`
	RequestID *string     `json:"request_id,omitempty"`
	Error     errorDetail `json:"error"`
}

// handle decodes one client message, acts on it and returns the encoded answer.
func (w *wsConn) handle(data []byte) []byte {
	msg, err := decodeWSMessage(data)
	if err != nil {
		return errorMessage(msg.RequestID, err)
	}
	return w.bid(&msg)
}

// decodeWSMessage decodes one client message: one JSON object with a known "type", which today
// means "bid". It is an invalid_request error otherwise; the returned message then carries the
// request_id when the JSON itself could be read, so that the error can name it. A bid's fields
// are checked later, by toBid, once it is known that the sender may bid at all (wsConn.bid).
func decodeWSMessage(data []byte) (wsClientMessage, error) {
	var msg wsClientMessage
	if err := decodeJSONBytes(data, &msg); err != nil {
		return wsClientMessage{}, err
	}
	if msg.Type == nil {
		return msg, auction.Errorf(auction.CodeInvalidRequest, `the message has no "type"; send {"type":"bid","request_id":…,"amount":…}`)
	}
	if *msg.Type != "bid" {
		return msg, auction.Errorf(auction.CodeInvalidRequest, "unknown message type %q", truncateForMessage(*msg.Type))
	}
	return msg, nil
}

// bid places a bid from the signed-in user and answers bid_accepted or bid_rejected. The
// order of the checks is the cheapest first: who, how often, what, and then the engine.
func (w *wsConn) bid(msg *wsClientMessage) []byte {
	if w.p.user == nil {
		return rejected(msg.RequestID, auction.Errorf(auction.CodeUnauthenticated, "sign in to bid: connect with the session cookie or Authorization: Bearer"))
	}
	if !w.s.live.bidLimit.allow(w.p.user.ID) {
		return rejected(msg.RequestID, auction.Errorf(auction.CodeRateLimited, "too many bids; slow down"))
	}
	req, err := msg.toBid(userRef(w.p.user))
	if err != nil {
		return rejected(msg.RequestID, err)
	}
	res, err := w.s.engine.Bid(w.ctx, w.p.auctionID, req)
	if err != nil {
		if auction.ErrorCode(err) == auction.CodeInternal && w.ctx.Err() == nil {
			w.s.log.Error("WebSocket bid failed", "auction", w.p.auctionID, "user_id", w.p.user.ID, "err", err)
		}
		return rejected(msg.RequestID, err)
	}
	return mustJSON(wsBidAccepted{
		Type:      "bid_accepted",
		RequestID: msg.RequestID,
		Bid: wsBid{
			ID:        res.Bid.ID,
			Amount:    auction.FormatAmount(res.Bid.Amount),
			CreatedAt: auction.FormatTime(res.Bid.CreatedAt),
		},
		Leading: res.Leading,
	})
}

func rejected(requestID *string, err error) []byte {
	return mustJSON(wsErrorMessage{Type: "bid_rejected", RequestID: requestID, Error: wireError(err)})
}

func errorMessage(requestID *string, err error) []byte {
	return mustJSON(wsErrorMessage{Type: "error", RequestID: requestID, Error: wireError(err)})
}

// wireError is err as the contract shows it; internal details stay out (ErrorMessage).
func wireError(err error) errorDetail {
	return errorDetail{Code: auction.ErrorCode(err), Message: auction.ErrorMessage(err)}
}

// mustJSON encodes our own message types, which cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("encoding a live message cannot fail: " + err.Error())
	}
	return b
}
