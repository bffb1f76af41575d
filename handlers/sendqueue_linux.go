package handlers

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueue looks at a TCP socket's kernel send queue, so that a write can be known not to
// block before it is made (wsConn.writeInline).
type sendQueue struct {
	raw syscall.RawConn
	// budget is how many bytes may be queued, the new frame included, for a write to be sure
	// of room: a quarter of the send buffer, since the kernel counts its per-segment overhead
	// against the same buffer, and the buffer reported may be twice what holds payload.
	budget int
}

// newSendQueue returns the send queue of conn, or one whose hasRoom is always false when
// conn is not a TCP socket of this process (TLS, or a test's pipe).
func newSendQueue(conn net.Conn) sendQueue {
	sc, ok := socketOf(conn).(syscall.Conn)
	if !ok {
		return sendQueue{}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return sendQueue{}
	}
	var sndbuf int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		sndbuf, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	}); err != nil || serr != nil || sndbuf <= 0 {
		return sendQueue{}
	}
	return sendQueue{raw: raw, budget: sndbuf / 4}
}

// usable reports whether hasRoom can ever be true.
func (q sendQueue) usable() bool { return q.raw != nil }

// hasRoom reports whether n more bytes fit in the socket's send queue without waiting for
// the client: what is queued and not yet acknowledged, plus n, stays within the budget.
func (q sendQueue) hasRoom(n int) bool {
	if q.raw == nil || n > q.budget {
		return false
	}
	var queued int
	var qerr error
	if err := q.raw.Control(func(fd uintptr) {
		queued, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || qerr != nil {
		return false
	}
	return queued+n <= q.budget
}
