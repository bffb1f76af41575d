// Package e2e drives the real server with headless chromium: signing up, listing an auction
// with a photo, bidding from two browsers and watching the other one update live, being
// outbid, reconnecting, falling back to server-sent events, and seeing the winner when the
// auction ends. It needs Debian's chromium (/usr/bin/chromium); without it the tests skip,
// except with CI=true, where they fail.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"auctionhouse/auction"
	"auctionhouse/handlers"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// server is the real program, assembled as main.go does, on a fresh SQLite file and a random
// local port.
type server struct {
	URL    string
	store  *models.Store
	engine *auction.Engine
	srv    *handlers.Server
}

// startServer builds and starts the server; everything stops at the test's cleanup. The
// server's warnings and errors go to the test's output.
func startServer(t *testing.T) *server {
	t.Helper()
	store := dbtest.SQLite(t)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	engine := auction.New(store, auction.Options{Logger: logger})
	if err := engine.Start(context.Background()); err != nil {
		t.Fatalf("e2e: start the engine: %v", err)
	}
	srv := handlers.New(handlers.Config{
		Templates:  os.DirFS("../templates"),
		Static:     os.DirFS("../static"),
		UploadDir:  t.TempDir(),
		BcryptCost: bcrypt.MinCost,
	}, store, engine, logger)
	app := srv.App()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("e2e: listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		// The engine first (as main.go does): it ends every live subscription, so the
		// server's sockets close and HTTP can drain.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := engine.Shutdown(ctx); err != nil {
			t.Errorf("e2e: engine shutdown: %v", err)
		}
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("e2e: http shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("e2e: serve: %v", err)
		}
	})
	s := &server{URL: "http://" + ln.Addr().String(), store: store, engine: engine, srv: srv}

	// Wait until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("e2e: the server does not answer /healthz: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// api calls the JSON API; token may be empty. It returns the status and the decoded body.
func (s *server) api(t *testing.T, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("e2e: encode %s %s: %v", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		t.Fatalf("e2e: %s %s: %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("e2e: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("e2e: %s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// writePNG writes a small photo-like PNG (a gradient with a frame) and returns its path.
func writePNG(t *testing.T, name string) string {
	t.Helper()
	const w, h = 320, 240
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{R: uint8(40 + x*180/w), G: uint8(90 + y*120/h), B: 160, A: 255}
			if x < 6 || y < 6 || x >= w-6 || y >= h-6 {
				c = color.RGBA{R: 30, G: 30, B: 40, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("e2e: create %s: %v", path, err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatalf("e2e: encode %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("e2e: write %s: %v", path, err)
	}
	return path
}
