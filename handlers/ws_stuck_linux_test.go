package handlers

import (
	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A watcher that stops reading never holds up the others. While its socket's send queue has
// room, the pacer writes its states itself (writeInline); once the queue is full, they wait for
// the connection's own writer, and every other watcher still gets each state at once.
func TestWSStuckWatcherHoldsUpNoOne(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bidders := []session{e.signup("bob"), e.signup("cyd")}
		a, addr := serveStuckAuction(t, e, ann)

		stuck := dialStuck(t, addr, a.ID)
		defer stuck.Close()
		watcher, _ := connect(t, addr, a.ID)
		var ws []*wsClient
		for _, b := range bidders {
			c, _ := connect(t, addr, a.ID, as(b))
			ws = append(ws, c)
		}

		price := 10
		for i := range 60 {
			amount := itoa(int64(price)) + ".00"
			expectAccepted(t, ws[i%2].bid("r"+itoa(int64(i)), amount), amount, true)
			start := time.Now()
			_ = watcher.conn.SetReadDeadline(start.Add(3 * time.Second))
			for {
				_, data, err := watcher.conn.ReadMessage()
				if err != nil {
					t.Fatalf("bid %d: the reading watcher did not get its state (%v after %v)", i+1, err, time.Since(start))
				}
				if strings.Contains(string(data), `"bid_count":`+itoa(int64(i+1))+`,`) {
					break
				}
			}
			price++
			time.Sleep(wsStateInterval) // one state frame each for the stuck watcher
		}
		if n := unreadBytes(t, stuck); n < 4<<10 {
			t.Fatalf("the stuck watcher holds only %d unread bytes: its receive buffer never filled", n)
		}
		if q := serverSendQueue(t, stuck); q < 8<<10 {
			t.Fatalf("the server queued only %d bytes for the stuck watcher: its send buffer never filled", q)
		}
	})
}

// eachStuck runs fn for each store, the two at once (such a test mostly waits for a deadline),
// with an env without rate limits (forty bids in a row from one bidder would meet them), a
// bidder, bob, and an auction of ann's that serveStuckAuction serves at addr.
func eachStuck(t *testing.T, fn func(t *testing.T, e *env, bob session, a auction.View, addr string)) {
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		t.Parallel()
		e := newEnv(t, store, Config{DisableRateLimits: true}, nil)
		ann := e.signup("ann")
		bob := e.signup("bob")
		a, addr := serveStuckAuction(t, e, ann)
		fn(t, e, bob, a, addr)
	})
}

// serveStuckAuction creates an auction of seller's whose states are large, and serves e on a
// listener whose connections have small send buffers (Linux grows a loopback socket's to
// megabytes): a client that stops reading then fills its buffers and the server's in a few
// dozen states. It returns the auction and the address.
func serveStuckAuction(t *testing.T, e *env, seller session) (auction.View, string) {
	t.Helper()
	a := e.createAuction(seller, map[string]any{"description": strings.Repeat("A fine lamp. ", 150)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return a, serveOn(t, e, smallSendBuffers{ln.(*net.TCPListener)})
}

// smallSendBuffers gives each accepted connection a 16 KiB send buffer.
type smallSendBuffers struct{ *net.TCPListener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	return c, c.SetWriteBuffer(8 << 10) // Linux doubles it
}

// dialStuck opens a WebSocket to the auction with a small receive buffer and never reads it.
func dialStuck(t *testing.T, addr string, id int64) *net.TCPConn {
	t.Helper()
	return sendStuck(t, addr, "GET /ws/auctions/"+itoa(id)+" HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
}

// sendStuck connects to addr with a 4 KiB receive buffer, sends req and reads nothing after.
func sendStuck(t *testing.T, addr, req string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return conn.(*net.TCPConn)
}

// serverSendQueue is what the server's side of conn has queued and not had acknowledged, read
// from the kernel's socket table.
func serverSendQueue(t *testing.T, conn *net.TCPConn) int {
	t.Helper()
	// The server's side of conn has conn's remote address as its local one.
	local := conn.RemoteAddr().(*net.TCPAddr)
	remote := conn.LocalAddr().(*net.TCPAddr)
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%s %s", procAddr(local), procAddr(remote))
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 4 && f[1]+" "+f[2] == want {
			// tx_queue:rx_queue, in hex.
			q, err := strconv.ParseInt(strings.SplitN(f[4], ":", 2)[0], 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(q)
		}
	}
	t.Fatalf("no socket %s in /proc/net/tcp", want)
	return 0
}

// procAddr is a 127.0.0.1 address as /proc/net/tcp writes it.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}

// unreadBytes is what the kernel holds for conn that nobody has read.
func unreadBytes(t *testing.T, conn *net.TCPConn) int {
	t.Helper()
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ierr error
	if err := raw.Control(func(fd uintptr) { n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); err != nil || ierr != nil {
		t.Fatal(err, ierr)
	}
	return n
}

// A client that pings but does not read leaves the server's stuck data write its own deadline.
// The library's pong, written on the reader's goroutine, set the socket's write deadline to a
// second, and so dropped such a client a second after its first ping; now the writer answers
// pings, and its write keeps wsWriteWait. The client is still dropped once the write has waited
// that long, pings or not.
func TestWSPingsLeaveAStuckWriteItsDeadline(t *testing.T) {
	eachStuck(t, func(t *testing.T, e *env, bob session, a auction.View, addr string) {

		stuck := dialStuck(t, addr, a.ID)
		defer stuck.Close()
		waitFor(t, "the stuck watcher in the hub", func() bool { return e.srv.LiveConnections() == 1 })
		bidsPath := "/api/v1/auctions/" + itoa(a.ID) + "/bids"
		for i := range 40 {
			e.do("POST", bidsPath, `{"amount":"`+itoa(int64(10+i))+`.00"}`, as(bob)).expect(t, 201)
			time.Sleep(wsStateInterval) // a state frame each
		}
		if q := serverSendQueue(t, stuck); q < 8<<10 {
			t.Fatalf("the server queued only %d bytes for the stuck watcher: its writes never blocked", q)
		}
		blocked := time.Now()
		ping := maskedFrame(opPing, []byte("are you there"))
		for time.Since(blocked) < 3*time.Second {
			_, err := stuck.Write(ping)
			if err != nil || e.srv.LiveConnections() != 1 {
				t.Fatalf("the stuck watcher was dropped %v after its writes blocked, while it pinged (%v)", time.Since(blocked), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		deadline := blocked.Add(wsWriteWait + wsDeadlineRefresh + liveWait)
		for e.srv.LiveConnections() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the stuck watcher was still open %v after its writes blocked", time.Since(blocked))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// maskedFrame is a final frame of opcode with payload as a client sends it: masked.
func maskedFrame(opcode byte, payload []byte) []byte {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	f := append([]byte{0x80 | opcode, 0x80 | byte(len(payload))}, mask[:]...)
	for i, c := range payload {
		f = append(f, c^mask[i%4])
	}
	return f
}
