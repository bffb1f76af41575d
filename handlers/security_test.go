package handlers

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// expectSecurityHeaders fails the test unless h has every security header, a CSP that allows
// nothing inline and lets the pages reach their own host's WebSocket (any, when host is ""), and
// HSTS exactly when wantHSTS.
func expectSecurityHeaders(t *testing.T, what string, h http.Header, host string, wantHSTS bool) {
	t.Helper()
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "strict-origin-when-cross-origin",
		"X-Frame-Options":        "DENY",
	} {
		if got := h.Values(name); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s = %q, want exactly %q", what, name, got, want)
		}
	}
	csps := h.Values("Content-Security-Policy")
	if len(csps) != 1 {
		t.Fatalf("%s: Content-Security-Policy %q, want one", what, csps)
	}
	csp := csps[0]
	if strings.Contains(csp, "'unsafe-inline'") || strings.Contains(csp, "'unsafe-eval'") {
		t.Errorf("%s: the CSP allows inline code: %s", what, csp)
	}
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	connect := "'self' ws://" + host + " wss://" + host
	if host == "" {
		connect = "'self' ws: wss:"
	}
	for name, want := range map[string]string{
		"default-src":     "'self'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"img-src":         "'self' data:",
		"connect-src":     connect,
		"frame-ancestors": "'none'",
		"base-uri":        "'self'",
		"form-action":     "'self'",
		"object-src":      "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("%s: CSP %s %q, want %q (policy %s)", what, name, got, want, csp)
		}
	}
	hsts := h.Get("Strict-Transport-Security")
	switch {
	case wantHSTS && hsts != "max-age=63072000; includeSubDomains":
		t.Errorf("%s: Strict-Transport-Security %q over TLS", what, hsts)
	case !wantHSTS && hsts != "":
		t.Errorf("%s: Strict-Transport-Security %q without TLS", what, hsts)
	}
}

// wsHandshake makes r a WebSocket handshake.
func wsHandshake(r *http.Request) {
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
}

// TestSecurityHeaders: every kind of answer carries the headers, the refusals and the errors
// too, including those the HTTP server makes before any route runs.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), pagesConfig(t), nil)
	ann := e.signup("ann")
	a := e.createAuction(ann, nil)
	const host = "example.com" // httptest.NewRequest's

	cases := []struct {
		name         string
		method, path string
		opts         []reqOpt
		status       int
	}{
		{"API", "GET", "/api/v1/auctions", nil, 200},
		{"API error", "GET", "/api/v1/auctions/999999", nil, 404},
		{"API refusal", "POST", "/api/v1/auctions", nil, 401},
		{"health", "GET", "/healthz", nil, 200},
		{"metrics", "GET", "/metrics", nil, 200},
		{"home page", "GET", "/", nil, 200},
		{"auction page", "GET", "/auctions/" + itoa(a.ID), nil, 200},
		{"login page", "GET", "/login", nil, 200},
		{"page error", "GET", "/nothing/here", nil, 404},
		{"page refusal", "POST", "/login", nil, 403},
		{"static CSS", "GET", "/static/css/app.css", nil, 200},
		{"static JS", "GET", "/static/js/auction.js", nil, 200},
		{"WebSocket: not a handshake", "GET", "/ws/auctions/" + itoa(a.ID), nil, 426},
		{"WebSocket: foreign origin", "GET", "/ws/auctions/" + itoa(a.ID), []reqOpt{wsHandshake, header("Origin", "https://evil.example")}, 403},
		{"WebSocket: unknown auction", "GET", "/ws/auctions/999999", []reqOpt{wsHandshake}, 404},
		{"events: unknown auction", "GET", "/auctions/999999/events", nil, 404},
	}
	for _, tt := range cases {
		res := e.do(tt.method, tt.path, "", tt.opts...).expect(t, tt.status)
		expectSecurityHeaders(t, tt.name, res.Header, host, false)
	}

	// What the HTTP server refuses while reading a request, before any route: a real listener.
	// The requests are written by hand. A too-large body is only declared, never sent: the
	// server refuses on Content-Length and closes, and a client still writing the body would
	// have its connection reset, which made this test flaky with net/http's client.
	addr := listen(t, e)
	post := func(path, contentType string, length int, body string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var req strings.Builder
		fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n", path, addr, contentType, length)
		for k, v := range hdr {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
		req.WriteString("\r\n" + body)
		if _, err := io.WriteString(conn, req.String()); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, body := post("/api/v1/users", "application/json", DefaultBodyLimit+1, "", nil)
	response{Status: res.StatusCode, Body: []byte(body), Header: res.Header, raw: res}.expectError(t, 413, auction.CodeInvalidRequest)
	expectSecurityHeaders(t, "API body too large", res.Header, addr, false)

	res, body = post("/login", "application/x-www-form-urlencoded", DefaultBodyLimit+1, "", nil)
	if res.StatusCode != 413 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Too large") {
		t.Errorf("page body too large: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	expectSecurityHeaders(t, "page body too large", res.Header, addr, false)

	// The request line and headers must fit fasthttp's read buffer.
	res, body = post("/api/v1/sessions", "application/json", 2, "{}", map[string]string{"X-Filler": strings.Repeat("x", headerBufferSize)})
	response{Status: res.StatusCode, Body: []byte(body), Header: res.Header, raw: res}.expectError(t, 431, auction.CodeInvalidRequest)
	// The header could not be read, so the policy cannot name the host.
	expectSecurityHeaders(t, "headers too large", res.Header, "", false)
}

func TestContentSecurityPolicyHost(t *testing.T) {
	for _, tt := range []struct{ host, connect string }{
		{"shop.example", "'self' ws://shop.example wss://shop.example"},
		{"127.0.0.1:3000", "'self' ws://127.0.0.1:3000 wss://127.0.0.1:3000"},
		{"[::1]:3000", "'self' ws://[::1]:3000 wss://[::1]:3000"},
		// Client-supplied text must not add directives or sources.
		{"evil.example; script-src *", "'self' ws: wss:"},
		{"a b", "'self' ws: wss:"},
		{"", "'self' ws: wss:"},
		{strings.Repeat("a", 300), "'self' ws: wss:"},
	} {
		csp := contentSecurityPolicy(tt.host)
		if !strings.Contains(csp, "; connect-src "+tt.connect+"; ") {
			t.Errorf("host %q: %s", tt.host, csp)
		}
		if strings.Count(csp, "script-src") != 1 {
			t.Errorf("host %q: injected: %s", tt.host, csp)
		}
	}
}

// TestHSTS: Strict-Transport-Security only over TLS: a TLS connection, or a trusted proxy's
// X-Forwarded-Proto: https. Anyone can send that header, so without TrustProxy it counts for
// nothing.
func TestHSTS(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		for _, tt := range []struct {
			name       string
			trustProxy bool
			proto      string
			want       bool
		}{
			{"plain HTTP", false, "", false},
			{"forged X-Forwarded-Proto", false, "https", false},
			{"trusted proxy, TLS", true, "https", true},
			{"trusted proxy, TLS, case", true, "HTTPS", true},
			{"trusted proxy, appended", true, "http, https", true},
			{"trusted proxy, plain", true, "http", false},
			{"trusted proxy, no header", true, "", false},
		} {
			cfg := pagesConfig(t)
			cfg.TrustProxy = tt.trustProxy
			e := newEnv(t, store, cfg, nil)
			var opts []reqOpt
			if tt.proto != "" {
				opts = append(opts, header("X-Forwarded-Proto", tt.proto))
			}
			for _, path := range []string{"/api/v1/auctions", "/", "/nothing"} {
				res := e.do("GET", path, "", opts...)
				expectSecurityHeaders(t, tt.name+" "+path, res.Header, "example.com", tt.want)
			}
		}
	})
	t.Run("TLS connection", func(t *testing.T) {
		e := newEnv(t, dbtest.SQLite(t), pagesConfig(t), nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() {
			served <- e.app.Listener(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}))
		}()
		t.Cleanup(func() {
			_ = e.app.Shutdown()
			<-served
		})
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		for _, path := range []string{"/api/v1/auctions", "/", "/static/css/app.css", "/api/v1/nothing"} {
			res, err := client.Get("https://" + ln.Addr().String() + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			expectSecurityHeaders(t, "TLS "+path, res.Header, ln.Addr().String(), true)
		}
	})
}

// TestSecureCookieBehindProxy: the session cookie is Secure over TLS, which behind a proxy only
// a trusted proxy's X-Forwarded-Proto can say.
func TestSecureCookieBehindProxy(t *testing.T) {
	for _, tt := range []struct {
		trustProxy bool
		proto      string
		want       bool
	}{
		{false, "", false},
		{false, "https", false},
		{true, "https", true},
		{true, "http", false},
	} {
		e := newEnv(t, dbtest.SQLite(t), Config{TrustProxy: tt.trustProxy}, nil)
		e.do("POST", "/api/v1/users", `{"username":"ann","password":"12345678"}`).expect(t, 201)
		var opts []reqOpt
		if tt.proto != "" {
			opts = append(opts, header("X-Forwarded-Proto", tt.proto))
		}
		res := e.do("POST", "/api/v1/sessions", `{"username":"ann","password":"12345678"}`, opts...).expect(t, 201)
		if c := res.cookieNamed(sessionCookie); c == nil || c.Secure != tt.want {
			t.Errorf("trust proxy %v, X-Forwarded-Proto %q: cookie %+v, want Secure %v", tt.trustProxy, tt.proto, c, tt.want)
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestClientIP: X-Forwarded-For is believed only from a trusted proxy, and then only its last
// entry, the one the proxy added.
func TestClientIP(t *testing.T) {
	for _, tt := range []struct {
		name       string
		trustProxy bool
		xff        string
		want       string
	}{
		{"no proxy", false, "", "0.0.0.0"},
		{"forged", false, "203.0.113.7", "0.0.0.0"},
		{"trusted", true, "203.0.113.7", "203.0.113.7"},
		{"trusted, client's own entries ignored", true, "198.51.100.1, 203.0.113.7", "203.0.113.7"},
		{"trusted, IPv4-mapped", true, "::ffff:203.0.113.7", "203.0.113.7"},
		{"trusted, garbage", true, "not an address", "0.0.0.0"},
		{"trusted, absent", true, "", "0.0.0.0"},
	} {
		e := newEnv(t, dbtest.SQLite(t), Config{TrustProxy: tt.trustProxy}, nil)
		var got string
		e.app.Get("/ip", func(c *fiber.Ctx) error {
			got = e.srv.clientIP(c)
			return nil
		})
		var opts []reqOpt
		if tt.xff != "" {
			opts = append(opts, header("X-Forwarded-For", tt.xff))
		}
		e.do("GET", "/ip", "", opts...)
		if got != tt.want {
			t.Errorf("%s: client IP %q, want %q", tt.name, got, tt.want)
		}
	}
}
