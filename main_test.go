package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"auctionhouse/models/dbtest"
)

func TestHealthcheck(t *testing.T) {
	for _, tt := range []struct {
		name    string
		status  int
		wantErr string
	}{
		{"healthy", http.StatusOK, ""},
		{"database down", http.StatusServiceUnavailable, "503"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/healthz" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
			err := healthcheck(env(map[string]string{"PORT": port}), time.Second)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
		if err := healthcheck(env(map[string]string{"PORT": port}), time.Second); err == nil {
			t.Fatal("healthcheck passed with no server")
		}
	})
}

// TestAssemble checks the wiring main does: the embedded pages render, and the engine's
// measurements reach /metrics (they once did not: the engine had no metrics to report to).
func TestAssemble(t *testing.T) {
	store := dbtest.SQLite(t)
	cfg, err := loadConfig(env(map[string]string{"UPLOAD_DIR": t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	engine, srv := assemble(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := engine.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Shutdown(context.Background()) })
	app := srv.App()
	call := func(method, path, token, body string) (int, string) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	token := func(name string) string {
		call("POST", "/api/v1/users", "", `{"username":"`+name+`","password":"password1"}`)
		_, body := call("POST", "/api/v1/sessions", "", `{"username":"`+name+`","password":"password1"}`)
		var s struct{ Token string }
		if err := json.Unmarshal([]byte(body), &s); err != nil || s.Token == "" {
			t.Fatalf("log in %s: %s", name, body)
		}
		return s.Token
	}
	seller, bidder := token("seller"), token("bidder")
	ends := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if status, body := call("POST", "/api/v1/auctions", seller, `{"title":"t","starting_price":"5","ends_at":"`+ends+`"}`); status != 201 {
		t.Fatalf("create auction: %d %s", status, body)
	}
	if status, body := call("POST", "/api/v1/auctions/1/bids", bidder, `{"amount":"5.00"}`); status != 201 {
		t.Fatalf("bid: %d %s", status, body)
	}
	if status, body := call("GET", "/", "", ""); status != 200 || !strings.Contains(body, "/static/css/app.css") {
		t.Fatalf("home page from the embedded templates: %d", status)
	}
	if status, _ := call("GET", "/static/css/app.css", "", ""); status != 200 {
		t.Fatalf("embedded static file: %d", status)
	}
	_, metrics := call("GET", "/metrics", "", "")
	for _, want := range []string{`auction_bids_total{result="accepted"} 1`, "auction_commit_batch_bids_sum 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
