package handlers

import (
	"bufio"
	"encoding/json"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// sseKeepAlive is how often an idle event stream gets a comment line: it keeps proxies from
// timing the stream out, and a failed write is how a vanished client is noticed.
const sseKeepAlive = 15 * time.Second

// sseRetry is the reconnection delay suggested to EventSource clients, in milliseconds.
const sseRetry = 2000

// serveEvents answers GET /auctions/{id}/events: the live stream of PROTOCOL.md §6 as
// server-sent events, for clients without WebSockets. Each event's data is the same JSON as
// the WebSocket message; state events carry their seq as the event id. The stream ends when
// the client goes, the server shuts down, or the session signs out. Bids go through the HTTP
// API.
func (s *Server) serveEvents(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	var sessionID, userID int64
	ident := identityOf(c)
	if ident != nil {
		sessionID, userID = ident.session.ID, ident.user.ID
	}
	live := newLiveConn(sessionID, userID, s.clientIP(c))
	surelyValid := s.live.register(live, logoutMarkOf(c))
	streaming := false
	defer func() {
		if !streaming {
			s.live.unregister(live)
		}
	}()
	if !surelyValid {
		valid, err := s.sessionStillValid(c.UserContext(), ident.session)
		if err != nil {
			return err
		}
		if !valid {
			// It signed out while connecting: the stream ends right after the snapshot, as
			// if the logout had come a moment later.
			live.requestClose(closeNormal, "signed out")
		}
	}
	sub, err := s.engine.Subscribe(c.UserContext(), id, userID)
	if err != nil {
		return err
	}
	seq, snapshot := s.snapshotMessage(sub)
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	// Tells nginx and friends not to buffer the stream.
	c.Set("X-Accel-Buffering", "no")
	c.Status(fiber.StatusOK)
	if c.Method() == fiber.MethodHead {
		sub.Close()
		return nil
	}
	// The stream is written on the hijacked connection by one goroutine with a small buffer,
	// as WebSockets are. fasthttp's body-stream writer cost two goroutines, a pipe and three
	// 4 KiB buffers per stream: 33.9 KiB per client against 17.9 now (BENCHMARKS.md).
	// From here on the hijack handler owns live and sub. fasthttp runs it unless clearing the
	// connection's deadline fails, which it cannot while fasthttp still owns the connection
	// (and ReduceMemoryUsage leaves no earlier response buffered to flush first). It keeps the
	// request, and so the response header, until the handler returns.
	streaming = true
	s.live.writing.Add(1) // until the stream has written its end
	fctx := c.Context()
	fctx.HijackSetNoResponse(true)
	fctx.Hijack(func(conn net.Conn) {
		defer s.live.writing.Add(-1)
		defer s.live.unregister(live)
		defer sub.Close()
		header := &fctx.Response.Header
		// HTTP/1.0 has no chunks: its body ends where the connection does.
		chunked := fctx.Request.Header.IsHTTP11()
		header.SetContentLength(-1)
		if !chunked {
			header.Del(fiber.HeaderTransferEncoding)
		}
		header.SetConnectionClose()
		out := newChunkedStream(conn, header.Header(), chunked)
		streamEvents(out.w, live, sub, seq, snapshot, s.metrics)
		out.end()
	})
	return nil
}

// streamEvents writes the snapshot and then every newer state, outbid notice and keep-alive
// until the stream must end. A write or flush error means the client is gone.
func streamEvents(w *bufio.Writer, live *liveConn, sub *auction.Subscription, lastSeq int64, snapshot []byte, metrics *Metrics) {
	if _, err := w.WriteString("retry: " + strconv.Itoa(sseRetry) + "\n"); err != nil {
		return
	}
	if writeEvent(w, "snapshot", lastSeq, snapshot) != nil {
		return
	}
	keepAlive := time.NewTicker(sseKeepAlive)
	defer keepAlive.Stop()
	for {
		var err error
		select {
		case <-live.closeRequested():
			return
		case <-sub.Done():
			return
		case <-sub.Notify():
			if u := sub.Latest(); u.Seq > lastSeq {
				lastSeq = u.Seq
				if err = writeEvent(w, "auction", u.Seq, u.JSON); err == nil {
					metrics.BroadcastDelivered(time.Since(u.Encoded))
				}
			}
		case msg := <-sub.Direct():
			err = writeEvent(w, messageType(msg), 0, msg)
		case <-keepAlive.C:
			if _, err = w.WriteString(": keep-alive\n\n"); err == nil {
				err = w.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// writeEvent writes one event and flushes it to the client. id 0 leaves the event without an
// id, so that a notice does not change the client's Last-Event-ID. data is one line: JSON as
// encoding/json writes it has no raw newlines.
func writeEvent(w *bufio.Writer, event string, id int64, data []byte) error {
	_, _ = w.WriteString("event: ")
	_, _ = w.WriteString(event)
	if id > 0 {
		_, _ = w.WriteString("\nid: ")
		_, _ = w.WriteString(strconv.FormatInt(id, 10))
	}
	_, _ = w.WriteString("\ndata: ")
	_, _ = w.Write(data)
	// bufio.Writer keeps its first error, so checking the last write and the flush suffices.
	if _, err := w.WriteString("\n\n"); err != nil {
		return err
	}
	return w.Flush()
}

// messageType reads the "type" of a pre-encoded message, to name its event.
func messageType(msg []byte) string {
	var m struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(msg, &m) != nil || m.Type == "" {
		return "message"
	}
	return m.Type
}
