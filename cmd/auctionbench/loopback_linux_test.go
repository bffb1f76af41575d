package main

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loopbackPairs are connected TCP sockets over 127.0.0.1, held as raw descriptors so that a
// write or a read is one system call and nothing else: the kernel's share of every frame the
// server sends and the load tool reads, which no server code can avoid.
type loopbackPairs struct {
	senders, receivers []int
}

// newLoopbackPairs connects n pairs. The descriptors are blocking: on loopback a write hands
// its segment to the receiving socket before it returns, so a read after it finds the bytes.
func newLoopbackPairs(tb testing.TB, n int) *loopbackPairs {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	p := &loopbackPairs{}
	tb.Cleanup(p.close)
	for range n {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c
		}()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		server := <-accepted
		if server == nil {
			tb.Fatal("accept failed")
		}
		p.senders = append(p.senders, rawFD(tb, server))
		p.receivers = append(p.receivers, rawFD(tb, client))
	}
	return p
}

// rawFD returns a blocking duplicate of conn's socket and closes conn.
func rawFD(tb testing.TB, conn net.Conn) int {
	tb.Helper()
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(s uintptr) { fd, dupErr = unix.Dup(int(s)) }); err != nil || dupErr != nil {
		tb.Fatal(err, dupErr)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		tb.Fatal(err)
	}
	return fd
}

func (p *loopbackPairs) close() {
	for _, fd := range append(p.senders, p.receivers...) {
		unix.Close(fd)
	}
}

// round writes frame to every sender, then reads it from every receiver into buf, and returns
// the time each half took. It fails tb if a socket does not carry the whole frame.
func (p *loopbackPairs) round(tb testing.TB, frame, buf []byte) (writing, reading time.Duration) {
	start := time.Now()
	for _, fd := range p.senders {
		if n, err := unix.Write(fd, frame); err != nil || n != len(frame) {
			tb.Fatalf("write: %d of %d bytes: %v", n, len(frame), err)
		}
	}
	mid := time.Now()
	for _, fd := range p.receivers {
		if n, err := unix.Read(fd, buf); err != nil || n != len(frame) {
			tb.Fatalf("read: %d of %d bytes: %v", n, len(frame), err)
		}
	}
	return mid.Sub(start), time.Since(mid)
}

// TestLoopbackPairsCarryFrames checks the calibration's plumbing: every pair carries each
// frame whole and in order, so the benchmark below times real deliveries.
func TestLoopbackPairsCarryFrames(t *testing.T) {
	p := newLoopbackPairs(t, 4)
	buf := make([]byte, 64)
	for i := range 3 {
		frame := bytes.Repeat([]byte{byte('a' + i)}, 10+i)
		p.round(t, frame, buf)
		if !bytes.Equal(buf[:len(frame)], frame) {
			t.Fatalf("round %d: read %q, want %q", i, buf[:len(frame)], frame)
		}
	}
}

// BenchmarkLoopbackFrame measures what one frame over loopback TCP costs this machine's kernel,
// with no WebSocket, runtime poller or server code around it: a write (which on loopback also
// runs the receiving side's TCP work and wake-up) and the read that takes it. It is the floor
// under fanout's pass over its watchers (BENCHMARKS.md §3):
//
//	go test -run '^$' -bench LoopbackFrame ./cmd/auctionbench
//
// LOOPBACK_PAIRS sets how many sockets a round goes over (default 2000, enough that they do not
// all stay in the CPU's caches, as 10,000 watchers do not).
func BenchmarkLoopbackFrame(b *testing.B) {
	pairs := 2000
	if s := os.Getenv("LOOPBACK_PAIRS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("LOOPBACK_PAIRS=%q: want a positive number", s)
		}
		pairs = n
	}
	p := newLoopbackPairs(b, pairs)
	// About the size of one auction state frame.
	frame := bytes.Repeat([]byte{'x'}, 480)
	buf := make([]byte, 4096)
	p.round(b, frame, buf) // first segments take the slow path; leave them out
	var writing, reading time.Duration
	frames := 0
	b.ResetTimer()
	for frames < b.N {
		w, r := p.round(b, frame, buf)
		writing += w
		reading += r
		frames += pairs
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(writing.Nanoseconds())/float64(frames), "write-ns/frame")
	b.ReportMetric(float64(reading.Nanoseconds())/float64(frames), "read-ns/frame")
	// Where the receiver's acknowledgement is paid (in the read, or in a later write when the
	// delayed-ack timer fired first) depends on how long a round takes; the sum does not.
	b.ReportMetric(float64((writing+reading).Nanoseconds())/float64(frames), "kernel-ns/frame")
}
