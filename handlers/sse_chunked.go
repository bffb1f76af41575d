package handlers

import (
	"bufio"
	"net"
	"strconv"
	"time"
)

// sseWriteWait bounds one write of an event stream, as wsWriteWait does a WebSocket frame's:
// a client that stops reading is dropped instead of holding its connection for ever.
const sseWriteWait = 10 * time.Second

// sseBufferSize is the stream's write buffer. An event is flushed as soon as it is written, so
// the buffer only gathers one event's lines; a larger state goes out in more than one chunk.
const sseBufferSize = 1024

// chunkedStream writes an HTTP/1.1 response body in chunked encoding straight to a hijacked
// connection: each flush of w is one chunk, preceded on the first write by the response header.
// For an HTTP/1.0 client it writes the body as it is, to be ended by closing the connection.
type chunkedStream struct {
	conn    net.Conn
	header  []byte
	chunked bool
	w       *bufio.Writer
	// frame is the buffer one chunk is framed in, so that a chunk is one write.
	frame []byte
}

func newChunkedStream(conn net.Conn, header []byte, chunked bool) *chunkedStream {
	cs := &chunkedStream{conn: conn, header: append([]byte(nil), header...), chunked: chunked}
	cs.w = bufio.NewWriterSize(cs, sseBufferSize)
	return cs
}

// Write sends p as one chunk. It is the io.Writer under cs.w; events are written through cs.w.
func (cs *chunkedStream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b := append(cs.frame[:0], cs.header...)
	if !cs.chunked {
		b = append(b, p...)
	} else {
		b = strconv.AppendInt(b, int64(len(p)), 16)
		b = append(b, '\r', '\n')
		b = append(b, p...)
		b = append(b, '\r', '\n')
	}
	if err := cs.write(b); err != nil {
		return 0, err
	}
	// A long description makes a state larger than the buffer, and bufio then hands it over
	// whole: keep only a frame of the usual size, so an idle stream holds no more than that.
	if cap(b) <= 2*sseBufferSize {
		cs.frame = b[:0]
	} else {
		cs.frame = nil
	}
	return len(p), nil
}

// write writes b, header included if it has not gone out yet, within sseWriteWait.
func (cs *chunkedStream) write(b []byte) error {
	if err := cs.conn.SetWriteDeadline(time.Now().Add(sseWriteWait)); err != nil {
		return err
	}
	_, err := cs.conn.Write(b)
	cs.header = nil
	return err
}

// end writes the last chunk, which tells the client the stream ended rather than broke off.
// The header goes with it if nothing was written before. Without chunks, closing the
// connection ends the body.
func (cs *chunkedStream) end() {
	if cs.w.Flush() != nil {
		return
	}
	last := cs.header
	if cs.chunked {
		last = append(last, "0\r\n\r\n"...)
	}
	if len(last) > 0 {
		_ = cs.write(last)
	}
}
