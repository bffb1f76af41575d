package handlers

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueue looks at a TCP socket's kernel send queue, so that a write can be known not to
// block before it is made (wsConn.writeInline).
//
// Asking the kernel costs a system call, a seventh of the pacer's time when it wrote inline to
// 10,000 watchers. But the queue only grows by what this process writes: so after one look,
// the room left is known, less what was written since, until it runs out and the kernel is
// asked again (acknowledged bytes have left the queue by then).
type sendQueue struct {
	raw syscall.RawConn
	// budget is how many bytes may be queued, the new frame included, for a write to be sure
	// of room: a quarter of the send buffer, since the kernel counts its per-segment overhead
	// against the same buffer, and the buffer reported may be twice what holds payload.
	budget int
	// credit is the room known as of the last look, less what was written since. Only the
	// holder of the connection's writer role uses it (hasRoom, wrote).
	credit int
}

// controlReserve keeps room for the control frames nobody counts: the close frames, and the
// ping and pong that go out with a state after its look (appendControl).
const controlReserve = 256

// newSendQueue returns the send queue of conn, or nil when conn is not a TCP socket of this
// process (TLS, or a test's pipe); a nil queue never has room.
func newSendQueue(conn net.Conn) *sendQueue {
	sc, ok := socketOf(conn).(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var sndbuf int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		sndbuf, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	}); err != nil || serr != nil || sndbuf <= 0 {
		return nil
	}
	return &sendQueue{raw: raw, budget: sndbuf / 4}
}

// usable reports whether hasRoom can ever be true.
func (q *sendQueue) usable() bool { return q != nil }

// hasRoom reports whether n more bytes fit in the socket's send queue without waiting for
// the client: what is queued and not yet acknowledged, plus n, stays within the budget.
func (q *sendQueue) hasRoom(n int) bool {
	if q == nil || n > q.budget {
		return false
	}
	if q.credit >= n {
		return true
	}
	var queued int
	var qerr error
	if err := q.raw.Control(func(fd uintptr) {
		queued, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || qerr != nil {
		q.credit = 0
		return false
	}
	q.credit = q.budget - queued - controlReserve
	return q.credit >= n
}

// wrote counts n bytes written by the holder of the writer role.
func (q *sendQueue) wrote(n int) {
	if q != nil {
		q.credit -= n
	}
}
