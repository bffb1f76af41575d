package handlers

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

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
	if !s.originAllowed(c) {
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
	// wakeC holds a token after kick, so that a running writer looks at pingDue and pong and
	// cannot end while something it has not seen is waiting (park).
	wakeC   chan struct{}
	pingDue atomic.Bool
	// pong is the payload of the newest ping not yet answered (answerPing).
	pong atomic.Pointer[[]byte]
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
	// finishing is set when a closing writer begins to write the replies still owed
	// (finishReplies): the reader takes no message in hand after it. With handling, set
	// before the reader looks at finishing, one of the two always sees the other.
	finishing atomic.Bool

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
		closeAndWait(conn, closeInternalError, "internal error", nil)
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
	s.live.writing.Add(1) // until endWriting
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
			closeAndWait(conn, closeInternalError, "internal error", w.endWriting)
			return false
		}
		if !valid {
			// It signed out while connecting: as if the logout had come a moment later.
			closeAndWait(conn, closeNormal, "signed out", w.endWriting)
			return false
		}
	}

	sub, err := s.engine.Subscribe(w.ctx, p.auctionID, w.live.userID)
	if err != nil {
		if errors.Is(err, auction.ErrUnavailable) {
			closeAndWait(conn, closeGoingAway, "server shutting down", w.endWriting)
		} else {
			s.log.Error("subscribe a WebSocket", "auction", p.auctionID, "err", err)
			closeAndWait(conn, closeInternalError, "internal error", w.endWriting)
		}
		return false
	}
	w.sub = sub

	seq, snapshot := s.snapshotMessage(sub)
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
	w.endWriting() // for a connection that start gave up on
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
	err := w.writeClose(code, reason)
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
// the client's answer, for the paths that give up right after the upgrade. written, if not nil,
// is called once the close frame has gone out or failed to, before the wait.
func closeAndWait(conn *websocket.Conn, code int, reason string, written func()) {
	err := conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(wsWriteWait))
	if written != nil {
		written()
	}
	if err != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(wsCloseGrace))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}
