package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"

	"auctionhouse/auction"
)

// The connection's reader: the handler's goroutine reads each client message, hands a bid to
// the engine and answers it, writing the answer itself when it can (writeReplyInline).

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
				_ = w.writeClose(closeTooBig, "message too big")
				return true
			}
			return false
		}
		w.extendReadDeadline()
		w.actOn(mt, *buf)
		releaseMessage(buf)
	}
}

// testHookActOn, set only by tests, runs once a message is in hand and the connection was
// found open: where a close may come in the meantime.
var testHookActOn func()

// actOn answers one client message, unless the connection is closing.
func (w *wsConn) actOn(mt int, data []byte) {
	// In hand before the look at stopping: a closing writer that found no message in hand
	// (finishReplies) has set finishing first, so the look then sees it. Looked at in the
	// other order, a bid could be placed after the writer had written its last reply, and its
	// acknowledgement would never be written.
	w.handling.Store(true)
	defer w.handling.Store(false)
	if w.stopping() {
		// A close frame went out or is about to: only the client's answer matters now.
		return
	}
	if testHookActOn != nil {
		testHookActOn()
	}
	if mt != websocket.TextMessage {
		w.answer(errorMessage(nil, auction.Errorf(auction.CodeInvalidRequest, "messages must be JSON text frames")))
		return
	}
	w.answer(w.handle(data))
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
	if w.live.closing() || w.finishing.Load() {
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

// reply queues an answer for the writer without ever blocking the reader.
func (w *wsConn) reply(msg []byte) {
	select {
	case w.replies <- msg:
		w.kick()
	default:
		w.live.requestClose(closePolicy, "too many unread replies")
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

// wsBidAccepted is bid_accepted. Seq, our extension of the contract, is the seq of a state
// that includes the bid: a client that has a state with this seq or higher need not wait for
// another to show its bid.
type wsBidAccepted struct {
	Type      string  `json:"type"`
	RequestID *string `json:"request_id,omitempty"`
	Bid       wsBid   `json:"bid"`
	Leading   bool    `json:"leading"`
	Seq       int64   `json:"seq"`
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
		Seq:     res.Seq(),
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
