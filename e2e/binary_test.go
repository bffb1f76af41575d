package e2e

// Helpers for the tests of the real binary (crash_test.go, shutdown_test.go): build the program
// once per test run, give each test a fresh PostgreSQL database, start and stop the process
// with its environment, and talk to it over the JSON API and WebSockets from many goroutines.
// Nothing here calls t.Fatal from a goroutine other than the test's: the clients return errors.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"
)

// Bounds of the waits around the process. Generous: a loaded 2-core machine under -race
// must still pass, and a hang must still end with a message rather than the global timeout.
const (
	buildTimeout   = 5 * time.Minute
	startTimeout   = 30 * time.Second
	exitTimeout    = 15 * time.Second // for a process we killed
	requestTimeout = 15 * time.Second
	dialTimeout    = 10 * time.Second
)

// envTestDatabase names the PostgreSQL server the binary tests create their databases on.
const envTestDatabase = "TEST_DATABASE_URL"

// adminName and adminPassword are the ADMIN_USERNAME/ADMIN_PASSWORD every binary starts with.
const (
	adminName     = "root_admin"
	adminPassword = "admin-password-1"
)

// TestMain removes the binary built for the run (see serverBinary) when every test is done.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBinary.dir != "" {
		_ = os.RemoveAll(builtBinary.dir)
	}
	os.Exit(code)
}

var builtBinary struct {
	once sync.Once
	dir  string
	path string
	took time.Duration
	err  error
}

// serverBinary builds the program (the module root, `..` from here) once per test run and
// returns its path. With E2E_SERVER_RACE=1 the binary is built with the race detector, which
// makes every data race in the server a test failure (see binaryServer.checkStderr).
func serverBinary(t *testing.T) string {
	t.Helper()
	b := &builtBinary
	b.once.Do(func() {
		start := time.Now()
		b.dir, b.err = os.MkdirTemp("", "auctionhouse-e2e-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "auctionhouse")
		args := []string{"build", "-o", b.path}
		if serverRace() {
			args = append(args, "-race")
		}
		args = append(args, "..")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		goTool := "go"
		if root := os.Getenv("GOROOT"); root != "" {
			if p := filepath.Join(root, "bin", "go"); fileExists(p) {
				goTool = p
			}
		}
		out, err := exec.CommandContext(ctx, goTool, args...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		b.took = time.Since(start)
	})
	if b.err != nil {
		t.Fatalf("e2e: build the server: %v", b.err)
	}
	return b.path
}

func serverRace() bool { return os.Getenv("E2E_SERVER_RACE") == "1" }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// freshDatabase creates an empty PostgreSQL database for this test on the server of
// TEST_DATABASE_URL and returns its URL; it is dropped at cleanup. The binary migrates it
// itself. Without TEST_DATABASE_URL the test skips, or fails with CI=true.
func freshDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv(envTestDatabase)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("e2e: %s is not set and CI=true: the tests of the real binary need PostgreSQL, e.g. %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'", envTestDatabase, envTestDatabase)
		}
		t.Skipf("e2e: %s is not set; the tests of the real binary need PostgreSQL, e.g. %s='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'", envTestDatabase, envTestDatabase)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("e2e: %s must be a postgres:// URL for the binary tests (got a %q scheme, err %v)", envTestDatabase, u.Scheme, err)
	}
	name := "e2e_" + strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name += "_" + randomHex(t, 4)

	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("e2e: %s is set but PostgreSQL is unusable: %v", envTestDatabase, err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	_ = conn.Close(ctx)
	if err != nil {
		t.Fatalf("e2e: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("e2e: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("e2e: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("e2e: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// freePort asks the kernel for a free TCP port. Another process could take it before the
// binary listens; startBinary then fails with the binary's own reason.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("e2e: find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects the process's output for the test log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// binaryServer is one run of the program.
type binaryServer struct {
	t     *testing.T
	label string
	URL   string
	cmd   *exec.Cmd
	out   *syncBuffer

	exited  chan struct{} // closed when Wait returned
	waitErr error         // set before exited is closed
}

// startBinary runs the program on dbURL and a free port and waits until /healthz answers
// 200. At cleanup it is killed if still running, and its output goes to the test log if the
// test failed (or always, with -v and E2E_SERVER_LOG=1).
func startBinary(t *testing.T, label, dbURL string) *binaryServer {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, portTaken := tryStartBinary(t, label, dbURL)
		if !portTaken {
			return s
		}
		if attempt == 3 {
			t.Fatalf("e2e: server %q: three free ports were taken before it could listen; its output:\n%s", label, tail(s.out.String(), 20))
		}
		t.Logf("e2e: server %q: its port was taken before it could listen; trying another", label)
	}
}

// tryStartBinary is one attempt of startBinary; portTaken reports that the process could not
// listen because another took the free port first.
func tryStartBinary(t *testing.T, label, dbURL string) (srv *binaryServer, portTaken bool) {
	t.Helper()
	bin := serverBinary(t)
	port := freePort(t)
	env := map[string]string{
		"PORT":           strconv.Itoa(port),
		"DATABASE_URL":   dbURL,
		"RATE_LIMITS":    "off",
		"ADMIN_USERNAME": adminName,
		"ADMIN_PASSWORD": adminPassword,
		"UPLOAD_DIR":     t.TempDir(),
	}
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PORT", "DATABASE_URL", "SQLITE_PATH", "ADMIN_USERNAME", "ADMIN_PASSWORD",
			"ALLOWED_ORIGINS", "RATE_LIMITS", "UPLOAD_DIR":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	s := &binaryServer{
		t:      t,
		label:  label,
		URL:    "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:    cmd,
		out:    &syncBuffer{},
		exited: make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("e2e: start %s: %v", bin, err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Kill()
			select {
			case <-s.exited:
			case <-time.After(exitTimeout):
				t.Errorf("e2e: server %q (pid %d) did not exit %s after SIGKILL", s.label, s.cmd.Process.Pid, exitTimeout)
			}
		}
		s.checkStderr()
		if t.Failed() || os.Getenv("E2E_SERVER_LOG") == "1" {
			t.Logf("e2e: output of server %q (pid %d, %s):\n%s", s.label, s.cmd.Process.Pid, s.URL, tail(s.out.String(), 200))
		}
	})

	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, false
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-s.exited:
			if strings.Contains(s.out.String(), "address already in use") {
				return s, true
			}
			t.Fatalf("e2e: server %q exited before answering /healthz (%v); its output:\n%s", label, s.waitErr, tail(s.out.String(), 100))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("e2e: server %q does not answer %s/healthz within %s: %v", label, s.URL, startTimeout, err)
		}
	}
}

// checkStderr fails the test on a data race or panic reported by the server.
func (s *binaryServer) checkStderr() {
	out := s.out.String()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
		if strings.Contains(out, bad) {
			s.t.Errorf("e2e: server %q printed %q (its output follows at cleanup)", s.label, bad)
		}
	}
}

func (s *binaryServer) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *binaryServer) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil && s.running() {
		s.t.Fatalf("e2e: SIGKILL server %q: %v", s.label, err)
	}
	select {
	case <-s.exited:
	case <-time.After(exitTimeout):
		s.t.Fatalf("e2e: server %q (pid %d) still runs %s after SIGKILL", s.label, s.cmd.Process.Pid, exitTimeout)
	}
}

// signal sends sig to the process.
func (s *binaryServer) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("e2e: send %v to server %q: %v", sig, s.label, err)
	}
}

// waitExit waits up to d for the process to exit and returns its exit code (-1 when it was
// ended by a signal) and whether it exited in time.
func (s *binaryServer) waitExit(d time.Duration) (code int, ok bool) {
	select {
	case <-s.exited:
	case <-time.After(d):
		return 0, false
	}
	st := s.cmd.ProcessState
	if st == nil {
		return -1, true
	}
	if ws, isWS := st.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
		return -1, true
	}
	return st.ExitCode(), true
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = append([]string{fmt.Sprintf("… (%d earlier lines left out)", len(parts)-lines)}, parts[len(parts)-lines:]...)
	}
	return strings.Join(parts, "\n")
}

// ---- the JSON API ------------------------------------------------------------------------------

// apiClient calls the JSON API of one server; it is safe for concurrent use.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(t *testing.T, base string) *apiClient {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{base: base, hc: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

// apiError is a 4xx/5xx answer of the API.
type apiError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// errorCode is the API error code of err, or "".
func errorCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// call sends body as JSON (if not nil) and decodes a 2xx answer into out (if not nil). A 4xx
// or 5xx answer is an *apiError; a transport failure is returned as is.
func (c *apiClient) call(ctx context.Context, method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(raw, &eb) == nil {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		} else {
			e.Message = string(raw)
		}
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d, undecodable answer %q: %w", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// must is call for the test's own goroutine: anything but want fails the test.
func (c *apiClient) must(t *testing.T, want int, method, path, token string, body, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	status, err := c.call(ctx, method, path, token, body, out)
	if err != nil {
		t.Fatalf("e2e: %s %s: %v", method, path, err)
	}
	if status != want {
		t.Fatalf("e2e: %s %s: status %d, want %d", method, path, status, want)
	}
}

// userJSON, auctionJSON and bidJSON are the wire shapes of PROTOCOL.md §4 and §5.
type userJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type auctionJSON struct {
	ID               int64     `json:"id"`
	Status           string    `json:"status"`
	StartingPrice    string    `json:"starting_price"`
	CurrentPrice     *string   `json:"current_price"`
	MinNextBid       string    `json:"min_next_bid"`
	BidCount         int       `json:"bid_count"`
	HighBidder       *userJSON `json:"high_bidder"`
	ReserveMet       *bool     `json:"reserve_met"`
	EndsAt           string    `json:"ends_at"`
	ExtensionSeconds int       `json:"extension_seconds"`
	Winner           *userJSON `json:"winner"`
	ClosedReason     *string   `json:"closed_reason"`
	Seq              int64     `json:"seq"`
}

type bidJSON struct {
	ID        int64     `json:"id"`
	Bidder    *userJSON `json:"bidder"`
	Amount    string    `json:"amount"`
	CreatedAt string    `json:"created_at"`
}

// bidAnswer is the 201 answer to POST /api/v1/auctions/{id}/bids.
type bidAnswer struct {
	Bid     bidJSON     `json:"bid"`
	Leading bool        `json:"leading"`
	Auction auctionJSON `json:"auction"`
}

// account is a signed-up, signed-in user.
type account struct {
	ID    int64
	Name  string
	Token string
}

// signUpAll creates and signs in the users named, a few at a time (bcrypt is slow on purpose).
func signUpAll(t *testing.T, api *apiClient, names []string) []account {
	t.Helper()
	out := make([]account, len(names))
	var g errgroup.Group
	g.SetLimit(4)
	for i, name := range names {
		g.Go(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
			defer cancel()
			var u struct {
				ID int64 `json:"id"`
			}
			creds := map[string]string{"username": name, "password": password}
			if _, err := api.call(ctx, "POST", "/api/v1/users", "", creds, &u); err != nil {
				return fmt.Errorf("sign up %s: %w", name, err)
			}
			var s struct {
				Token string `json:"token"`
				User  struct {
					ID int64 `json:"id"`
				} `json:"user"`
			}
			if _, err := api.call(ctx, "POST", "/api/v1/sessions", "", creds, &s); err != nil {
				return fmt.Errorf("sign in %s: %w", name, err)
			}
			if s.Token == "" || s.User.ID != u.ID {
				return fmt.Errorf("sign in %s: token %q, user %d; signed up as %d", name, s.Token, s.User.ID, u.ID)
			}
			out[i] = account{ID: u.ID, Name: name, Token: s.Token}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	return out
}

// ---- WebSockets --------------------------------------------------------------------------------

// liveMsg is any server message of PROTOCOL.md §6.
type liveMsg struct {
	Type      string       `json:"type"`
	RequestID string       `json:"request_id"`
	Bid       *bidJSON     `json:"bid"`
	Leading   bool         `json:"leading"`
	Auction   *auctionJSON `json:"auction"`
	Error     *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// wsConn is one client WebSocket with its own reader goroutine, which puts every message on
// msgs and, when the connection ends, records why and closes msgs. Writes come from one
// goroutine at a time (the owner).
type wsConn struct {
	ws   *websocket.Conn
	msgs chan liveMsg

	mu       sync.Mutex
	endErr   error // why reading stopped
	endedAt  time.Time
	snapshot auctionJSON
}

var wsDialer = &websocket.Dialer{
	NetDialContext:   (&net.Dialer{Timeout: dialTimeout}).DialContext,
	Proxy:            nil,
	HandshakeTimeout: dialTimeout,
}

// dialLive opens /ws/auctions/{id} (with Authorization: Bearer token when token is set, and
// no Origin, as a non-browser client may) and reads the snapshot, which must come first.
// idle bounds the wait for any one message afterwards.
func dialLive(ctx context.Context, base string, auctionID int64, token string, idle time.Duration) (*wsConn, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws/auctions/" + strconv.FormatInt(auctionID, 10)
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ws, resp, err := wsDialer.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return nil, fmt.Errorf("WebSocket %s: %w (status %s: %s)", u, err, resp.Status, body)
		}
		return nil, fmt.Errorf("WebSocket %s: %w", u, err)
	}
	c := &wsConn{ws: ws, msgs: make(chan liveMsg, 256)}
	_ = ws.SetReadDeadline(time.Now().Add(dialTimeout))
	var first liveMsg
	if err := ws.ReadJSON(&first); err != nil {
		ws.Close()
		return nil, fmt.Errorf("WebSocket %s: no snapshot: %w", u, err)
	}
	if first.Type != "snapshot" || first.Auction == nil {
		ws.Close()
		return nil, fmt.Errorf("WebSocket %s: first message is %q, not a snapshot", u, first.Type)
	}
	c.snapshot = *first.Auction
	go c.read(idle)
	return c, nil
}

func (c *wsConn) read(idle time.Duration) {
	defer close(c.msgs)
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(idle))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.endErr, c.endedAt = err, time.Now()
			c.mu.Unlock()
			return
		}
		var m liveMsg
		if err := json.Unmarshal(data, &m); err != nil {
			m = liveMsg{Type: "undecodable: " + string(data)}
		}
		// Never blocks for long: every owner drains msgs until it is closed.
		c.msgs <- m
	}
}

// ended returns when and why reading stopped (valid once msgs is closed).
func (c *wsConn) ended() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endedAt, c.endErr
}

// closeCode is the code of the close frame the server sent, or -1 when the connection ended
// without one.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// sendBid writes one bid message.
func (c *wsConn) sendBid(requestID, amount, max string) error {
	m := map[string]string{"type": "bid", "request_id": requestID, "amount": amount}
	if max != "" {
		m["max_amount"] = max
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(requestTimeout))
	return c.ws.WriteJSON(m)
}

// drain reads away what is left so that the reader goroutine ends (it ends anyway at its idle
// deadline or when the socket closes).
func (c *wsConn) drain() {
	for range c.msgs {
	}
}

// drainFor reads away what is left until the reader ends by itself, or at most d; then the
// socket is closed.
func (c *wsConn) drainFor(d time.Duration) {
	timeout := time.After(d)
	for {
		select {
		case _, open := <-c.msgs:
			if !open {
				return
			}
		case <-timeout:
			c.closeNow()
			return
		}
	}
}

// closeNow closes the socket without a close handshake and waits for the reader.
func (c *wsConn) closeNow() {
	_ = c.ws.Close()
	c.drain()
}
