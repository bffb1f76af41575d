package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models/dbtest"
)

func TestHealth(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		e := newEnv(t, dbtest.SQLite(t), Config{}, nil)
		res := e.do("GET", "/healthz", "").expect(t, 200)
		if strings.TrimSpace(string(res.Body)) != `{"status":"ok"}` {
			t.Errorf("body %s", res.Body)
		}
	})
	t.Run("database gone", func(t *testing.T) {
		store := dbtest.SQLite(t)
		srv := New(Config{}, store, nil, slog.New(slog.NewTextHandler(t.Output(), nil)))
		app := srv.App()
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		e := &env{t: t, srv: srv, app: app}
		e.do("GET", "/healthz", "").expectError(t, 503, auction.CodeUnavailable)
	})
}

func TestFiberErrors(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), Config{BodyLimit: 1024}, nil)
	t.Run("no such route", func(t *testing.T) {
		e.do("GET", "/api/v1/nothing", "").expectError(t, 404, auction.CodeNotFound)
		e.do("GET", "/nothing", "").expectError(t, 404, auction.CodeNotFound)
	})
	t.Run("method not allowed", func(t *testing.T) {
		e.do("GET", "/api/v1/users", "").expectError(t, 405, auction.CodeInvalidRequest)
		e.do("PUT", "/api/v1/auctions", "{}").expectError(t, 405, auction.CodeInvalidRequest)
	})
	t.Run("body too large", func(t *testing.T) {
		// fasthttp refuses the body while reading it, which app.Test reports as its own
		// failure; a real listener shows what a client gets.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = e.app.Listener(ln) }()
		t.Cleanup(func() { _ = e.app.Shutdown() })
		body := `{"username":"` + strings.Repeat("a", 2000) + `","password":"12345678"}`
		res, err := http.Post("http://"+ln.Addr().String()+"/api/v1/users", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		response{Status: res.StatusCode, Body: b, Header: res.Header, raw: res}.expectError(t, 413, auction.CodeInvalidRequest)
	})
	t.Run("request id", func(t *testing.T) {
		res := e.do("GET", "/api/v1/auctions", "")
		if id := res.Header.Get(fiber.HeaderXRequestID); len(id) != 36 {
			t.Errorf("request id %q", id)
		}
		res = e.do("GET", "/api/v1/auctions", "", header(fiber.HeaderXRequestID, "client-42"))
		if id := res.Header.Get(fiber.HeaderXRequestID); id != "client-42" {
			t.Errorf("request id %q, want the client's", id)
		}
		res = e.do("GET", "/api/v1/auctions", "", header(fiber.HeaderXRequestID, "bad id\twith spaces"))
		if id := res.Header.Get(fiber.HeaderXRequestID); len(id) != 36 {
			t.Errorf("request id %q, want a fresh one", id)
		}
	})
}

// TestLongestAuctionFitsTheBodyLimit: the largest legitimate body is a new auction at its
// longest, escaped as much as JSON allows: each character an emoji written as a surrogate pair
// of \u escapes, 12 bytes. At 64 KiB such a 10,000-character description was refused with 413.
func TestLongestAuctionFitsTheBodyLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		const emoji = `\ud83d\ude00`
		body := `{"title":"` + strings.Repeat(emoji, auction.MaxTitleLen) +
			`","description":"` + strings.Repeat(emoji, auction.MaxDescriptionLen) +
			`","starting_price":"10.00","ends_at":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`
		var v auction.View
		e.do("POST", "/api/v1/auctions", body, as(ann)).expect(t, 201).decode(t, &v)
		if v.Description != strings.Repeat("\U0001F600", auction.MaxDescriptionLen) {
			t.Errorf("description of %d characters, want %d emoji", utf8.RuneCountInString(v.Description), auction.MaxDescriptionLen)
		}
	})
}

// syncBuffer is a log sink that tolerates concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPanicIsInternalError(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, dbtest.SQLite(t), Config{}, &logs)
	e.app.Get("/boom", func(*fiber.Ctx) error { panic("secret detail") })
	res := e.do("GET", "/boom", "")
	res.expectError(t, 500, auction.CodeInternal)
	if strings.Contains(string(res.Body), "secret detail") {
		t.Errorf("the answer shows internal details: %s", res.Body)
	}
	if !strings.Contains(logs.String(), "secret detail") {
		t.Errorf("the panic is not logged:\n%s", logs.String())
	}
}

func TestLogsKeepSecrets(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, dbtest.SQLite(t), Config{}, &logs)
	const password = "sup3r-secret-pw"
	e.do("POST", "/api/v1/users", `{"username":"ann","password":"`+password+`"}`).expect(t, 201)
	s := e.login("ann", password)
	e.do("POST", "/api/v1/auctions", auctionBody(nil), cookie(s.Token), csrf(s.CSRFToken)).expect(t, 201)
	e.do("POST", "/api/v1/auctions", auctionBody(nil), bearer(s.Token)).expect(t, 201)
	e.do("POST", "/api/v1/sessions", `{"username":"ann","password":"wrong-`+password+`"}`).expect(t, 401)
	e.do("DELETE", "/api/v1/sessions/current", "", bearer(s.Token)).expect(t, 204)
	_ = e.engine.Shutdown(context.Background())

	out := logs.String()
	for _, secret := range []string{password, s.Token, s.CSRFToken, hashToken(s.Token)} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain a secret %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "request_id=") || !strings.Contains(out, "path=/api/v1/sessions") {
		t.Errorf("requests are not logged with their id:\n%s", out)
	}
}
