package handlers

import (
	"net"
	"sync"
)

// The data frames a connection's writer has ready go out in one write system call: a bidder's
// acknowledgement and the state its bid made, or an outbid notice and the state that caused
// it, usually become ready together, and on loopback a write costs the server and the client
// about as much as all the rest of a bid (BENCHMARKS.md, many). The frames are built here, as
// RFC 6455 §5.2 lays them out, and written to the socket directly; the library's own writes
// (close frames) are whole single writes too, and the socket orders concurrent writes one after
// another, so frames never interleave. Pings and pongs are built here as well and go out with
// the data frames, under the same deadline: the library's pong, written on the reader's
// goroutine, set the socket's deadline to a second, and so cut short a data write that was
// waiting for a client that pings but does not read.

// appendTextFrame appends payload as one unmasked, final text frame, as a server sends it.
func appendTextFrame(dst, payload []byte) []byte {
	const finText = 0x81
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, finText, byte(n))
	case n < 1<<16:
		dst = append(dst, finText, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, finText, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, payload...)
}

// Control frame opcodes (RFC 6455 §5.5).
const (
	opPing = 0x9
	opPong = 0xA
)

// appendControlFrame appends a final control frame of opcode with payload, which the caller
// keeps within the 125 bytes control frames allow.
func appendControlFrame(dst []byte, opcode byte, payload []byte) []byte {
	dst = append(dst, 0x80|opcode, byte(len(payload)))
	return append(dst, payload...)
}

// wsGatherMax bounds the bytes one write gathers; whatever else is ready waits for the next.
const wsGatherMax = 16 << 10

// framePool holds the buffers frames are gathered in, so that an idle connection holds none.
var framePool = sync.Pool{New: func() any {
	b := make([]byte, 0, 2048)
	return &b
}}

// socketOf is the connection a hijacked WebSocket writes to: fasthttp wraps it only to replay
// what it had read ahead, which concerns reads alone.
func socketOf(conn net.Conn) net.Conn {
	if u, ok := conn.(interface{ UnsafeConn() net.Conn }); ok {
		return u.UnsafeConn()
	}
	return conn
}
