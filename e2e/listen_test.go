package e2e

import (
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestListensOnEveryInterface: PROTOCOL.md §1 has the server listen on all interfaces, so a
// client that reaches it over IPv6 is answered too. Fiber v2 listened on IPv4 alone unless told
// otherwise. The database is the embedded SQLite file: this needs no PostgreSQL.
func TestListensOnEveryInterface(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("e2e: this machine has no IPv6 loopback: %v", err)
	}
	probe.Close()
	srv := startBinary(t, "on every interface", "")
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("e2e: server URL %q: %v", srv.URL, err)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort("::1", u.Port()) + "/healthz")
	if err != nil {
		t.Fatalf("e2e: GET /healthz over IPv6 loopback: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("e2e: GET /healthz over IPv6 loopback: status %d, want 200", resp.StatusCode)
	}
}
