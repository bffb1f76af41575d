package handlers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// Live connection limits.
const (
	// maxLiveConnsPerAddr caps the WebSocket and SSE connections one client address may hold
	// (off with RATE_LIMITS=off). Generous, because many people can share one address behind
	// a NAT; it exists so that one script cannot exhaust the server's file descriptors.
	maxLiveConnsPerAddr = 256
	// maxLiveConnsPerUser caps the connections of one signed-in user, over all their sessions
	// and addresses (off with RATE_LIMITS=off): a person watches a handful of auctions in a
	// few tabs; a stolen or scripted account should not hold hundreds of subscriptions.
	maxLiveConnsPerUser = 20
)

// WebSocket close codes we send (RFC 6455 §7.4.1; PROTOCOL.md §6).
const (
	closeNormal        = websocket.CloseNormalClosure   // 1000: the session signed out
	closeGoingAway     = websocket.CloseGoingAway       // 1001: the server is shutting down
	closePolicy        = websocket.ClosePolicyViolation // 1008: too slow for its own messages
	closeTooBig        = websocket.CloseMessageTooBig   // 1009: a message over the read limit
	closeInternalError = websocket.CloseInternalServerErr
)

// liveConn is the hub's handle on one open WebSocket or SSE stream: who it belongs to, and a
// one-shot signal asking its owner to close it with a code. The owner's goroutines do the
// closing; the hub never touches the network, so closeSession cannot block on a slow client.
type liveConn struct {
	sessionID int64 // 0 for anonymous watchers
	userID    int64 // likewise
	addr      string
	// registered is guarded by the hub's mutex; it makes unregister idempotent.
	registered bool

	once   sync.Once
	closed chan struct{}
	code   int    // written once, before closed is closed
	reason string // likewise
	// wake, if set before the connection is registered, is called after a close request,
	// so that an owner with no goroutine waiting can start one. It must not block.
	wake func()
}

func newLiveConn(sessionID, userID int64, addr string) *liveConn {
	return &liveConn{sessionID: sessionID, userID: userID, addr: addr, closed: make(chan struct{})}
}

// requestClose asks the owner to close with code; only the first request counts, so a
// connection that is already closing for one reason keeps that reason.
func (c *liveConn) requestClose(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.closed)
		if c.wake != nil {
			c.wake()
		}
	})
}

// closeRequested is closed once someone asked for the connection to close.
func (c *liveConn) closeRequested() <-chan struct{} { return c.closed }

// closing reports whether a close was requested.
func (c *liveConn) closing() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// closeCode is the requested code and reason; only valid after closeRequested is closed.
func (c *liveConn) closeCode() (int, string) { return c.code, c.reason }

// liveHub tracks the open live connections (WebSocket and SSE) by session, so that signing out
// closes that session's sockets, and by client address and by user, for the caps. It holds no
// goroutine of its own: each connection's owner registers, waits on its liveConn, and
// unregisters.
type liveHub struct {
	mu       sync.Mutex
	sessions map[int64]map[*liveConn]struct{}
	perAddr  map[string]int
	perUser  map[int64]int
	total    int
	// writing counts the WebSockets that may still write a frame (wsConn.endWriting has not
	// run) and the event streams that have not written their end, for AwaitLiveClosed.
	writing atomic.Int64
	// logouts counts closeSession calls. A connection remembers it before authenticating;
	// if it changed by the time the connection registers, a logout may have slipped between
	// the two, and the session is looked up again (see register).
	logouts uint64

	// addrCap and userCap are the per-address and per-user connection caps; 0 means none
	// (RATE_LIMITS=off).
	addrCap int
	userCap int
	// bidLimit limits WebSocket bids per user; nil means unlimited (RATE_LIMITS=off).
	bidLimit *keyedLimiter
	// writeBufferPool lends WebSocket connections a write buffer only while they write, so an
	// idle watcher holds none.
	writeBufferPool *sync.Pool
	// upgrade is the WebSocket upgrade handler, built once per server.
	upgrade fiber.Handler
	// pacer wakes WebSocket writers for new states, a bounded number at a time.
	pacer *statePacer
}

func newLiveHub(s *Server) *liveHub {
	h := &liveHub{
		sessions:        make(map[int64]map[*liveConn]struct{}),
		perAddr:         make(map[string]int),
		perUser:         make(map[int64]int),
		writeBufferPool: &sync.Pool{},
		pacer:           newStatePacer(),
	}
	if !s.cfg.DisableRateLimits {
		h.addrCap = maxLiveConnsPerAddr
		h.userCap = maxLiveConnsPerUser
		h.bidLimit = newKeyedLimiter(wsBidRate, wsBidBurst)
	}
	h.upgrade = s.newUpgrader(h.writeBufferPool)
	return h
}

// register adds c. logoutsBefore is logoutMark() from before the request was authenticated;
// it reports false when the session may have signed out in between and the caller must check
// it again (sessionStillValid) before serving.
func (h *liveHub) register(c *liveConn, logoutsBefore uint64) (surelyValid bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.registered {
		c.registered = true
		h.total++
		h.perAddr[c.addr]++
		if c.userID != 0 {
			h.perUser[c.userID]++
		}
	}
	if c.sessionID != 0 {
		m := h.sessions[c.sessionID]
		if m == nil {
			m = make(map[*liveConn]struct{})
			h.sessions[c.sessionID] = m
		}
		m[c] = struct{}{}
	}
	return c.sessionID == 0 || h.logouts == logoutsBefore
}

// unregister removes c; calling it twice is harmless.
func (h *liveHub) unregister(c *liveConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.registered {
		return
	}
	c.registered = false
	if m := h.sessions[c.sessionID]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(h.sessions, c.sessionID)
		}
	}
	h.total--
	if h.perAddr[c.addr]--; h.perAddr[c.addr] <= 0 {
		delete(h.perAddr, c.addr)
	}
	if c.userID != 0 {
		if h.perUser[c.userID]--; h.perUser[c.userID] <= 0 {
			delete(h.perUser, c.userID)
		}
	}
}

// AwaitLiveClosed waits until every WebSocket has written its last frame and every event
// stream its last chunk, or ctx ends. Call it after the engine's Shutdown has ended the
// subscriptions: each WebSocket's writer then sends the replies it still owes and a 1001 close
// frame, and each event stream ends its body. fasthttp's Shutdown does not wait
// for hijacked connections, so a program that exited right after it could cut those frames off,
// and its clients saw the connection drop (1006) instead of the server going away.
func (s *Server) AwaitLiveClosed(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n := s.live.writing.Load()
		if n <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d WebSockets or event streams had not finished writing: %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}

// logoutMark is read before authenticating a live request; see register.
func (h *liveHub) logoutMark() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logouts
}

// closeSession closes the sockets and streams of a session that signed out, with code 1000
// (PROTOCOL.md §5). It only signals; each connection closes itself.
func (h *liveHub) closeSession(sessionID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logouts++
	for c := range h.sessions[sessionID] {
		c.requestClose(closeNormal, "signed out")
	}
}

// count is the number of open live connections.
func (h *liveHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// addrFull reports whether addr already holds as many live connections as allowed. The check
// is made before upgrading and the count taken after, so a burst can overshoot by a few; the
// cap is a guard against exhaustion, not an exact quota.
func (h *liveHub) addrFull(addr string) bool {
	if h.addrCap == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perAddr[addr] >= h.addrCap
}

// userFull is addrFull for a signed-in user's connections.
func (h *liveHub) userFull(userID int64) bool {
	if h.userCap == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perUser[userID] >= h.userCap
}

// LiveConnections is the number of open WebSocket and SSE connections, for metrics.
func (s *Server) LiveConnections() int { return s.live.count() }

// routeLive adds the WebSocket and SSE routes (PROTOCOL.md §6). Everything that can refuse a
// WebSocket (not an upgrade, foreign origin, too many connections, bad token, unknown auction)
// runs as plain middleware before the upgrade, so that the refusal is an HTTP status with the
// JSON error shape.
func (s *Server) routeLive(app *fiber.App) {
	app.Get("/ws/auctions/:id", s.wsPreflight, s.markLogouts, s.authenticate, s.wsPrepare, s.live.upgrade)
	app.Get("/auctions/:id/events", s.liveAddrCap, s.markLogouts, s.authenticate, s.liveUserCap, s.serveEvents)
}

// logoutMarkKey is the Locals key of the hub's logout count read before authenticating.
type logoutMarkKey struct{}

// markLogouts remembers the logout count before authenticate looks the session up; see
// liveHub.register for why.
func (s *Server) markLogouts(c *fiber.Ctx) error {
	c.Locals(logoutMarkKey{}, s.live.logoutMark())
	return c.Next()
}

func logoutMarkOf(c *fiber.Ctx) uint64 {
	m, _ := c.Locals(logoutMarkKey{}).(uint64)
	return m
}

// liveAddrCap refuses a new live connection from an address that holds too many.
func (s *Server) liveAddrCap(c *fiber.Ctx) error {
	if s.live.addrFull(s.clientIP(c)) {
		return auction.Errorf(auction.CodeRateLimited, "too many live connections from your address")
	}
	return c.Next()
}

// liveUserCap runs after authenticate: it refuses a new live connection of a signed-in user who
// holds too many. Watching anonymously is still possible, under the address cap.
func (s *Server) liveUserCap(c *fiber.Ctx) error {
	if err := s.checkUserCap(c); err != nil {
		return err
	}
	return c.Next()
}

func (s *Server) checkUserCap(c *fiber.Ctx) error {
	if id := identityOf(c); id != nil && s.live.userFull(id.user.ID) {
		return auction.Errorf(auction.CodeRateLimited, "too many live connections for your account: close some tabs or connections first")
	}
	return nil
}

// sessionStillValid checks that a session that authenticated a live connection still exists,
// for the rare connection that registered while some session was signing out.
func (s *Server) sessionStillValid(ctx context.Context, sess *models.Session) (bool, error) {
	_, err := s.store.SessionByTokenHash(ctx, sess.TokenHash, s.now())
	if errors.Is(err, models.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// snapshotMessage encodes the subscription's starting state, {"type":"snapshot","auction":…},
// with the server time of now, for the client's countdown, and returns its seq, the last state
// the client then has.
func (s *Server) snapshotMessage(sub *auction.Subscription) (int64, []byte) {
	u := sub.Snapshot()
	return u.Seq, u.Message("snapshot", s.now())
}
