package main

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEpollLoop drives one loop over a socket pair as a server would: states (one split across
// two writes), a ping, then a close. The watcher follows the states, the ping is answered with
// a masked pong carrying its payload, and the close ends the connection with its code.
func TestEpollLoop(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	server := fds[1]
	defer unix.Close(server)

	l, err := newEpollLoop(batchWait)
	if err != nil {
		t.Fatal(err)
	}
	go l.run(time.Now())
	defer l.stop()
	w := newWatcher(liveState{Seq: 1, BidCount: 0, Price: ""})
	if err := l.add(&epollConn{fd: fds[0], sink: w}); err != nil {
		t.Fatal(err)
	}

	state := func(seq, count int64, price string) []byte {
		return serverFrame(true, opText, []byte(`{"type":"auction","auction":{"id":1,"seq":`+strconv.FormatInt(seq, 10)+
			`,"bid_count":`+strconv.FormatInt(count, 10)+`,"current_price":"`+price+`","min_next_bid":"99.00","status":"open"}}`))
	}
	two := state(3, 2, "11.00")
	mustWrite(t, server, append(state(2, 1, "10.00"), two[:7]...))
	waitFor(t, "the first state", func() bool { return w.seq.Load() == 2 })
	mustWrite(t, server, two[7:])
	waitFor(t, "the state split across writes", func() bool { return w.seq.Load() == 3 && *w.price.Load() == "11.00" })

	mustWrite(t, server, serverFrame(true, opPing, []byte("p1")))
	pong := readSome(t, server)
	if len(pong) != 8 || pong[0] != 0x80|opPong || pong[1] != 0x80|2 {
		t.Fatalf("pong frame % x", pong)
	}
	if got := []byte{pong[6] ^ pong[2], pong[7] ^ pong[3]}; !bytes.Equal(got, []byte("p1")) {
		t.Errorf("pong payload %q, want p1", got)
	}

	mustWrite(t, server, serverFrame(true, opClose, []byte{0x03, 0xF1})) // 1009
	waitFor(t, "the close", func() bool { return w.endCode.Load() == 1009 })
	waitFor(t, "the loop to drop the connection", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.conns) == 0
	})
	if w.states != 2 || w.count.Load() != 2 || len(w.recv) != 2 {
		t.Errorf("states %d, bid_count %d, %d receive times; want 2, 2, 2", w.states, w.count.Load(), len(w.recv))
	}
}

func mustWrite(t *testing.T, fd int, b []byte) {
	t.Helper()
	if n, err := unix.Write(fd, b); err != nil || n != len(b) {
		t.Fatalf("write: %d of %d bytes, %v", n, len(b), err)
	}
}

func readSome(t *testing.T, fd int) []byte {
	t.Helper()
	buf := make([]byte, 256)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			return buf[:n]
		}
		if err != nil && err != unix.EAGAIN {
			t.Fatalf("read: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("nothing to read within 5 s")
	return nil
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
