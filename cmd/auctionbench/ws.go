package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
)

// The live side of the contract (PROTOCOL.md §6): GET /ws/auctions/{id} upgraded to a
// WebSocket, one JSON text frame per message. The bench sends no Origin header (it is not a
// browser) and authenticates bidders with Authorization: Bearer on the upgrade request.

// wsDialer opens live connections to one server.
type wsDialer struct {
	base string // ws://host:port or wss://host:port
	d    *websocket.Dialer
}

func newWSDialer(httpBase string) *wsDialer {
	return &wsDialer{
		base: "ws" + strings.TrimPrefix(httpBase, "http"),
		d: &websocket.Dialer{
			NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			Proxy:            nil, // never a proxy: only ever connect to -url
			HandshakeTimeout: 15 * time.Second,
			// Small buffers: tens of thousands of connections live in this process. They do not
			// bound message sizes.
			ReadBufferSize:  2048,
			WriteBufferSize: 512,
			WriteBufferPool: &sync.Pool{},
		},
	}
}

// tls says whether the server is reached over TLS (wss://).
func (w *wsDialer) tls() bool { return strings.HasPrefix(w.base, "wss:") }

// dialAttempts and the backoff bound how long one connection may take to open.
const (
	dialAttempts   = 6
	dialBackoff    = 100 * time.Millisecond
	dialBackoffMax = 2 * time.Second
	// snapshotWait bounds the wait for the first message after the upgrade.
	snapshotWait = 15 * time.Second
)

// dial opens a live connection to an auction, retrying transient failures with backoff, and
// reads its first message, which must be the snapshot.
func (w *wsDialer) dial(ctx context.Context, auctionID int64, token string) (*liveConn, liveState, error) {
	path := fmt.Sprintf("/ws/auctions/%d", auctionID)
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	var c *liveConn
	var st liveState
	err := retryDial(ctx, func() (bool, error) {
		ws, resp, err := w.d.DialContext(ctx, w.base+path, h)
		if err != nil {
			err, retry := w.dialError(path, resp, err)
			return retry, err
		}
		c = &liveConn{ws: ws}
		if st, err = c.readSnapshot(); err != nil {
			ws.Close()
			return true, fmt.Errorf("GET %s: %w", path, err)
		}
		return false, nil
	})
	if err != nil {
		return nil, liveState{}, err
	}
	return c, st, nil
}

// retryDial runs attempt until it succeeds, it says not to try again, dialAttempts are spent or
// ctx ends, backing off between attempts.
func retryDial(ctx context.Context, attempt func() (retry bool, err error)) error {
	backoff := dialBackoff
	for n := 1; ; n++ {
		retry, err := attempt()
		if err == nil {
			return nil
		}
		if !retry || n >= dialAttempts || ctx.Err() != nil {
			return err
		}
		if sleepCtx(ctx, backoff) != nil {
			return ctx.Err()
		}
		backoff = min(2*backoff, dialBackoffMax)
	}
}

// dialError explains a failed upgrade and says whether to try again.
func (w *wsDialer) dialError(path string, resp *http.Response, err error) (error, bool) {
	if resp == nil {
		return fmt.Errorf("cannot reach %s (WebSocket %s): %s", w.base, path, netReason(err)), true
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &apiError{Method: "GET", Path: path + " (WebSocket upgrade)", Status: resp.StatusCode}
	var eb struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if jsonUnmarshal(body, &eb) == nil {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w (unknown auction, or the server has no WebSocket endpoint)", e), false
	case http.StatusForbidden:
		return fmt.Errorf("%w (this client sends no Origin header, which the contract allows)", e), false
	case http.StatusUnauthorized:
		return fmt.Errorf("%w (the session token was refused)", e), false
	case http.StatusTooManyRequests:
		return e, false
	}
	return e, resp.StatusCode >= 500
}

// liveConn is one WebSocket. One goroutine reads it; one goroutine writes bids; close() may be
// called from anywhere.
type liveConn struct {
	ws      *websocket.Conn
	buf     bytes.Buffer
	closing atomic.Bool
	// endCode is the close code the server sent (or -1 for a broken connection) when the
	// connection ended before the bench closed it; 0 otherwise.
	endCode atomic.Int64
}

// read returns the next message; the slice is valid until the next call.
func (c *liveConn) read() ([]byte, error) {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return nil, err
	}
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return c.buf.Bytes(), nil
}

func (c *liveConn) readSnapshot() (liveState, error) {
	c.ws.SetReadDeadline(time.Now().Add(snapshotWait))
	b, err := c.read()
	if err != nil {
		return liveState{}, fmt.Errorf("no snapshot after connecting: %s", closeReason(err))
	}
	c.ws.SetReadDeadline(time.Time{})
	m, err := parseLive(b)
	if err != nil {
		return liveState{}, fmt.Errorf("first message: %v", err)
	}
	if m.Type != "snapshot" || !m.HasState {
		return liveState{}, fmt.Errorf("first message is %q, not a snapshot", m.Type)
	}
	return m.State, nil
}

// send writes one JSON message.
func (c *liveConn) send(b []byte) error {
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// ended records why the read loop stopped, unless the bench was closing the connection itself.
func (c *liveConn) ended(err error) {
	c.ws.Close()
	if c.closing.Load() {
		return
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		c.endCode.Store(int64(ce.Code))
	} else {
		c.endCode.Store(-1)
	}
}

// close starts a clean close: a close frame with 1000, then the read loop sees the server's
// answer (or its 3 s deadline) and closes the socket.
func (c *liveConn) close() {
	if c.closing.Swap(true) {
		return
	}
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "benchmark done"),
		time.Now().Add(2*time.Second))
	_ = c.ws.SetReadDeadline(time.Now().Add(3 * time.Second))
}

// closeReason describes how a connection ended.
func closeReason(err error) string {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("closed by the server with code %d %s", ce.Code, ce.Text)
	}
	return netReason(err)
}

// connSet gathers the connections a scenario opens, from any goroutine, and closes them all
// once at the end; readers counts their read loops.
type connSet struct {
	readers sync.WaitGroup
	mu      sync.Mutex
	conns   []*liveConn
	closed  bool
}

func (s *connSet) add(c *liveConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = append(s.conns, c)
}

// closeAll closes the connections and waits for their readers; later calls do nothing.
func (s *connSet) closeAll() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := s.conns
	s.mu.Unlock()
	closeAll(conns, &s.readers)
}

// closeAll closes every connection cleanly, at most limit at a time, and waits (bounded) for
// their read loops, which wg counts.
func closeAll(conns []*liveConn, wg *sync.WaitGroup) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		for _, c := range conns {
			if c != nil {
				c.ws.Close()
			}
		}
		<-done
	}
}
