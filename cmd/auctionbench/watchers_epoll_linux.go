package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// epollPool reads watchers with one event loop per CPU over raw, non-blocking sockets, as wrk
// does. A goroutine per watcher costs, per received frame, a netpoll wake-up, a goroutine
// switch and a second read that finds nothing; here it is one read per ready socket, and a
// thousand sockets per epoll_wait.
type epollPool struct {
	d         *wsDialer
	t0        time.Time
	loops     []*epollLoop
	next      atomic.Uint32
	closeOnce sync.Once
}

// A loop that found fewer than batchWanted ready sockets waits batchWait before looking again.
const (
	batchWanted = 64
	batchWait   = 500 * time.Microsecond
)

// closeWait bounds the wait for the server's answers to the bench's close frames.
const closeWait = 3 * time.Second

func newEpollPool(d *wsDialer, t0 time.Time) (watcherPool, error) {
	return newLoops(d, t0, batchWait)
}

// newLoops starts one event loop per CPU; a loop that found fewer than batchWanted ready
// sockets waits wait before it looks again.
func newLoops(d *wsDialer, t0 time.Time, wait time.Duration) (*epollPool, error) {
	if d.tls() {
		return nil, errors.New("raw sockets speak ws://, not wss://")
	}
	p := &epollPool{d: d, t0: t0}
	for range runtime.GOMAXPROCS(0) {
		l, err := newEpollLoop(wait)
		if err != nil {
			for _, l := range p.loops {
				l.stop()
			}
			return nil, err
		}
		p.loops = append(p.loops, l)
		go l.run(t0)
	}
	return p, nil
}

func (p *epollPool) open(ctx context.Context, auctionID int64) (*watcher, error) {
	var w *watcher
	loop := int(p.next.Add(1) % uint32(len(p.loops)))
	_, _, err := p.attach(ctx, auctionID, "", loop, func(snap liveState) frameSink {
		w = newWatcher(snap)
		return w
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// attach opens a live connection to an auction (signed in with token, if any), reads its
// snapshot, and hands the socket to loop number loop, whose goroutine then gives sink (made
// from the snapshot) all that arrives. It returns the snapshot and the socket.
func (p *epollPool) attach(ctx context.Context, auctionID int64, token string, loop int, sink func(liveState) frameSink) (liveState, int, error) {
	conn, rest, snap, err := p.d.dialRaw(ctx, auctionID, token)
	if err != nil {
		return liveState{}, -1, err
	}
	fd, err := detachFD(conn)
	if err != nil {
		return liveState{}, -1, fmt.Errorf("live socket: %w", err)
	}
	c := &epollConn{fd: fd, sink: sink(snap)}
	if len(rest) > 0 {
		if !c.consume(rest, time.Since(p.t0)) {
			unix.Close(fd)
			return snap, -1, nil
		}
	}
	if err := p.loops[loop].add(c); err != nil {
		unix.Close(fd)
		return liveState{}, -1, err
	}
	return snap, fd, nil
}

// detachFD takes the socket out of Go's netpoller: a duplicate descriptor is kept and the
// original closed, which does not end the connection while the duplicate is open.
func detachFD(conn net.Conn) (int, error) {
	defer conn.Close()
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return -1, fmt.Errorf("not a TCP connection: %T", conn)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (p *epollPool) closeAll() {
	p.closeOnce.Do(func() {
		for _, l := range p.loops {
			l.startClose()
		}
		for _, l := range p.loops {
			<-l.done
		}
	})
}

// epollLoop follows its share of the connections. Its goroutine alone reads them; add and
// startClose reach the connections under mu.
type epollLoop struct {
	epfd      int
	batchWait time.Duration
	done      chan struct{}
	mu        sync.Mutex
	conns     map[int32]*epollConn
	closing   bool
	closeBy   time.Time
}

func newEpollLoop(batchWait time.Duration) (*epollLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &epollLoop{epfd: epfd, batchWait: batchWait, done: make(chan struct{}), conns: map[int32]*epollConn{}}, nil
}

// do runs fn as if on the loop's goroutine: nothing the loop reads runs at the same time.
func (l *epollLoop) do(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn()
}

func (l *epollLoop) add(c *epollConn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return errors.New("the run is closing its watchers")
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	l.conns[int32(c.fd)] = c
	return nil
}

// startClose sends every connection a close frame (1000); the loop then waits for the
// server's answers, at most closeWait, and ends.
func (l *epollLoop) startClose() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closing, l.closeBy = true, time.Now().Add(closeWait)
	frame := closeFrame(1000)
	for _, c := range l.conns {
		c.closing = true
		_, _ = unix.Write(c.fd, frame)
	}
}

func (l *epollLoop) stop() {
	l.mu.Lock()
	l.closing, l.closeBy = true, time.Time{}
	l.mu.Unlock()
	<-l.done
}

// run reads ready sockets until the pool closes. Level-triggered: one read per socket per
// wake-up, and a socket with more left is simply reported again.
func (l *epollLoop) run(t0 time.Time) {
	defer close(l.done)
	defer unix.Close(l.epfd)
	events := make([]unix.EpollEvent, 1024)
	scratch := make([]byte, 64<<10)
	for {
		n, err := unix.EpollWait(l.epfd, events, 50)
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.abandon(-1)
			return
		}
		now := time.Since(t0)
		l.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			c := l.conns[ev.Fd]
			if c != nil && !c.readOnce(scratch, now) {
				l.remove(c)
			}
		}
		over := l.closing && (len(l.conns) == 0 || !time.Now().Before(l.closeBy))
		l.mu.Unlock()
		if over {
			l.abandon(0)
			return
		}
		if n < batchWanted && l.batchWait > 0 {
			// Let more sockets get ready before the next look: a wake-up per handful of frames
			// cost this loop a quarter of its time in epoll_wait, and the server a thread
			// wake-up on many writes. Frames are timed after the wait, so this can only make
			// delays look longer, by at most batchWait.
			time.Sleep(l.batchWait)
		}
	}
}

// remove forgets a finished connection and closes its socket; l.mu is held.
func (l *epollLoop) remove(c *epollConn) {
	delete(l.conns, int32(c.fd))
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
}

// abandon closes every connection left, marking those not being closed with code.
func (l *epollLoop) abandon(code int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if !c.closing && code != 0 {
			c.sink.onEnd(code)
		}
		l.remove(c)
	}
}

// frameSink takes what an epollConn receives. What came with the snapshot is given to it on the
// goroutine that connected; after that, only the loop's goroutine calls it, with the loop's
// mutex held.
type frameSink interface {
	// onMessage takes one whole message, received at now (since the run's t0); the slice is
	// valid only during the call.
	onMessage(payload []byte, now time.Duration)
	// onEnd records that the server ended the connection: its close code, or -1 when the
	// connection broke.
	onEnd(code int64)
}

// epollConn is one socket and the frame it has only part of.
type epollConn struct {
	fd      int
	sink    frameSink
	partial []byte // the start of a frame not yet complete
	message []byte // a fragmented message so far
	closing bool   // the bench sent its close frame
}

// readOnce reads what the socket has and handles every complete frame; false means the
// connection is over.
func (c *epollConn) readOnce(scratch []byte, now time.Duration) bool {
	n, err := unix.Read(c.fd, scratch)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return true
	}
	if err != nil || n == 0 {
		c.ended(-1)
		return false
	}
	data := scratch[:n]
	if len(c.partial) > 0 {
		c.partial = append(c.partial, data...)
		data = c.partial
	}
	return c.consume(data, now)
}

// consume handles the complete frames at the start of data and keeps the rest.
func (c *epollConn) consume(data []byte, now time.Duration) bool {
	for {
		fin, op, payload, size, err := nextFrame(data)
		if err != nil {
			c.ended(-1)
			return false
		}
		if size == 0 {
			break
		}
		data = data[size:]
		switch op {
		case opText, opBinary, opContinuation:
			if !fin || len(c.message) > 0 {
				c.message = append(c.message, payload...)
				if !fin {
					continue
				}
				payload, c.message = c.message, nil
			}
			c.sink.onMessage(payload, now)
		case opPing:
			_, _ = unix.Write(c.fd, appendClientFrame(nil, opPong, payload))
		case opClose:
			c.ended(closeCode(payload))
			return false
		}
	}
	c.partial = append(c.partial[:0], data...)
	return true
}

// ended records that the server ended the connection, unless the bench was closing it.
func (c *epollConn) ended(code int64) {
	if !c.closing {
		c.sink.onEnd(code)
	}
}
