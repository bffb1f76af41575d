package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// env is one test's server: a real engine on a real store, driven through the Fiber app.
type env struct {
	t      *testing.T
	store  *models.Store
	engine *auction.Engine
	srv    *Server
	app    *fiber.App
}

// newEnv starts an engine on store and builds the app around it. logs, if not nil, receives the
// server's logs; otherwise they go to the test's output.
func newEnv(t *testing.T, store *models.Store, cfg Config, logs io.Writer) *env {
	t.Helper()
	if logs == nil {
		logs = t.Output()
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	engine := auction.New(store, auction.Options{Logger: logger, Metrics: cfg.Metrics})
	if err := engine.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := engine.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	cfg.BcryptCost = bcrypt.MinCost
	srv := New(cfg, store, engine, logger)
	return &env{t: t, store: store, engine: engine, srv: srv, app: srv.App()}
}

// eachStore runs fn on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL, each with a
// fresh environment.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		fn(t, newEnv(t, s, Config{}, nil))
	})
}

// reqOpt adjusts a test request.
type reqOpt func(r *http.Request)

func bearer(token string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func cookie(token string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: token}) }
}

func csrf(token string) reqOpt {
	return func(r *http.Request) { r.Header.Set(csrfHeader, token) }
}

func header(k, v string) reqOpt {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

// as authenticates with a session's bearer token.
func as(s session) reqOpt { return bearer(s.Token) }

// response is a finished test request.
type response struct {
	Status int
	Body   []byte
	Header http.Header
	raw    *http.Response
}

// do sends one request; body, if not "", is sent as JSON unless an option sets another type.
func (e *env) do(method, path, body string, opts ...reqOpt) response {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	res, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{Status: res.StatusCode, Body: b, Header: res.Header, raw: res}
}

// decode unmarshals the body into v, failing the test if it is not JSON.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("answer is not the expected JSON (%v): %s", err, r.Body)
	}
}

// expect fails the test unless the status is want.
func (r response) expect(t *testing.T, want int) response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %d, want %d; body %s", r.Status, want, r.Body)
	}
	return r
}

// expectError fails the test unless the answer is the error shape with this status and code.
func (r response) expectError(t *testing.T, status int, code auction.Code) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var body struct {
		Error *struct {
			Code    auction.Code `json:"code"`
			Message string       `json:"message"`
		} `json:"error"`
	}
	r.decode(t, &body)
	if body.Error == nil {
		t.Fatalf("no error object in %s", r.Body)
	}
	if body.Error.Code != code {
		t.Errorf("code %q, want %q (message %q)", body.Error.Code, code, body.Error.Message)
	}
	if body.Error.Message == "" {
		t.Errorf("empty error message")
	}
}

// cookieNamed returns the Set-Cookie of that name, or nil.
func (r response) cookieNamed(name string) *http.Cookie {
	for _, c := range r.raw.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// session is a login answer.
type session struct {
	Token string `json:"token"`
	User  struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Admin    bool   `json:"admin"`
	} `json:"user"`
	CSRFToken string `json:"csrf_token"`
}

const testPassword = "correct horse"

func jsonBody(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// signup creates an account and signs it in.
func (e *env) signup(name string) session {
	e.t.Helper()
	e.do("POST", "/api/v1/users", jsonBody(map[string]string{"username": name, "password": testPassword})).expect(e.t, 201)
	return e.login(name, testPassword)
}

func (e *env) login(name, password string) session {
	e.t.Helper()
	var s session
	e.do("POST", "/api/v1/sessions", jsonBody(map[string]string{"username": name, "password": password})).expect(e.t, 201).decode(e.t, &s)
	return s
}

// admin makes an administrator the way main does, and signs it in.
func (e *env) admin() session {
	e.t.Helper()
	if err := e.srv.EnsureAdmin(context.Background(), "root", "admin password"); err != nil {
		e.t.Fatalf("EnsureAdmin: %v", err)
	}
	return e.login("root", "admin password")
}

// auctionBody is a valid new auction ending in an hour, with fields overridden by mod.
func auctionBody(mod map[string]any) string {
	body := map[string]any{
		"title":          "Brass telescope",
		"description":    "Works; slight dent.",
		"starting_price": "10.00",
		"ends_at":        time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}
	for k, v := range mod {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	return jsonBody(body)
}

// createAuction puts an auction up as seller.
func (e *env) createAuction(seller session, mod map[string]any) auction.View {
	e.t.Helper()
	var v auction.View
	e.do("POST", "/api/v1/auctions", auctionBody(mod), as(seller)).expect(e.t, 201).decode(e.t, &v)
	return v
}

// get reads an auction through the API.
func (e *env) get(id int64) auction.View {
	e.t.Helper()
	var v auction.View
	e.do("GET", "/api/v1/auctions/"+itoa(id), "").expect(e.t, 200).decode(e.t, &v)
	return v
}

func itoa(id int64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

// bidsOf lists an auction's bids through the API.
func (e *env) bidsOf(id int64) []auction.BidView {
	e.t.Helper()
	var out struct {
		Bids []auction.BidView `json:"bids"`
	}
	e.do("GET", "/api/v1/auctions/"+itoa(id)+"/bids", "").expect(e.t, 200).decode(e.t, &out)
	return out.Bids
}

// sameState compares the parts of two views that a refused request must not change.
func sameState(t *testing.T, before, after auction.View) {
	t.Helper()
	before.ServerTime, after.ServerTime = "", ""
	before.Watchers, after.Watchers = 0, 0
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	if !bytes.Equal(a, b) {
		t.Errorf("state changed:\nbefore %s\nafter  %s", b, a)
	}
}

// showsAmount reports whether text shows the money amount amt ("20.00") as an amount: not as
// the tail of a time such as "12:47:20.000Z", which made a check for a leaked maximum flaky.
func showsAmount(text, amt string) bool {
	return regexp.MustCompile(`(^|[^0-9:.])` + regexp.QuoteMeta(amt) + `($|[^0-9])`).MatchString(text)
}

func TestShowsAmount(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{`"max_amount":"20.00"`, true},
		{`<b>$20.00</b>`, true},
		{`20.00`, true},
		{`"ends_at":"2026-11-25T02:47:20.000Z"`, false},
		{`"120.00"`, false},
		{`"20.005"`, false},
	} {
		if got := showsAmount(tt.text, "20.00"); got != tt.want {
			t.Errorf("showsAmount(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}
