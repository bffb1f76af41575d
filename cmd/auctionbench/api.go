package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// rateLimitHint is appended to every error caused by the server's per-address limits.
const rateLimitHint = "the server limits requests and connections per address; start it with RATE_LIMITS=off for load tests"

// api speaks the HTTP JSON API of PROTOCOL.md §5 to one server, and nothing else: redirects are
// not followed, so every request goes to the -url given.
type api struct {
	base string // scheme://host[:port], no trailing slash
	http *http.Client
}

func newAPI(base string) *api {
	tr := &http.Transport{
		Proxy:               nil, // never a proxy: only ever connect to -url
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &api{
		base: base,
		http: &http.Client{
			Transport:     tr,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func (a *api) close() { a.http.CloseIdleConnections() }

// apiError is an answer with an unexpected status.
type apiError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%s %s: unexpected status %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		s += " " + e.Code
		if e.Message != "" {
			s += ": " + e.Message
		}
	}
	if e.Status == http.StatusTooManyRequests || e.Code == "rate_limited" {
		s += " (" + rateLimitHint + ")"
	}
	return s
}

// unreachable wraps a transport error as "cannot reach URL: reason".
func (a *api) unreachable(err error) error {
	return fmt.Errorf("cannot reach %s: %s", a.base, netReason(err))
}

// netReason is the short cause of a network error: "connection refused", "timed out", ….
func netReason(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files (raise ulimit -n)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port (cannot assign requested address)"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the server closed the connection"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timed out"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return err.Error()
}

// retryable reports whether a failed call may be repeated: transport errors other than a refused
// connection, and 503 (the server stored nothing).
func retryable(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusServiceUnavailable
	}
	return !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded)
}

// call sends one request and decodes a JSON answer with status want into out (if not nil).
func (a *api) call(ctx context.Context, method, path, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return a.unreachable(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %s", method, path, netReason(err))
	}
	if resp.StatusCode != want {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: the answer is not the expected JSON: %v", method, path, err)
		}
	}
	return nil
}

// callRetry is call with up to 4 attempts and exponential backoff for retryable failures. Only
// use it for requests that are safe to repeat.
func (a *api) callRetry(ctx context.Context, method, path, token string, body, out any, want int) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := a.call(ctx, method, path, token, body, out, want)
		if err == nil || attempt == 4 || !retryable(err) {
			return err
		}
		if sleepCtx(ctx, backoff) != nil {
			return err
		}
		backoff *= 2
	}
}

// The contract's objects, as far as the bench needs them.

type userRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type auctionView struct {
	ID            int64    `json:"id"`
	Status        string   `json:"status"`
	StartingPrice string   `json:"starting_price"`
	CurrentPrice  *string  `json:"current_price"`
	MinNextBid    string   `json:"min_next_bid"`
	BidCount      int64    `json:"bid_count"`
	HighBidder    *userRef `json:"high_bidder"`
	Watchers      int64    `json:"watchers"`
	Seq           int64    `json:"seq"`
	EndsAt        string   `json:"ends_at"`
}

func (v *auctionView) price() string {
	if v.CurrentPrice == nil {
		return ""
	}
	return *v.CurrentPrice
}

type bidView struct {
	ID     int64   `json:"id"`
	Bidder userRef `json:"bidder"`
	Amount string  `json:"amount"`
}

// health checks GET /healthz; it is the first request of every run.
func (a *api) health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return a.unreachable(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s is not healthy: GET /healthz answered %d", a.base, resp.StatusCode)
	}
	return nil
}

type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// signUp creates a user (POST /api/v1/users).
func (a *api) signUp(ctx context.Context, name, password string) (userRef, error) {
	var out struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	}
	err := a.call(ctx, http.MethodPost, "/api/v1/users", "", credentials{name, password}, &out, http.StatusCreated)
	return userRef{ID: out.ID, Name: out.Username}, err
}

// signIn opens a session (POST /api/v1/sessions) and returns its token. Repeating it only opens
// another session, so it is retried.
func (a *api) signIn(ctx context.Context, name, password string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := a.callRetry(ctx, http.MethodPost, "/api/v1/sessions", "", credentials{name, password}, &out, http.StatusCreated); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("POST /api/v1/sessions: the answer has no token")
	}
	return out.Token, nil
}

type newAuction struct {
	Title            string `json:"title"`
	Description      string `json:"description"`
	StartingPrice    string `json:"starting_price"`
	EndsAt           string `json:"ends_at"`
	ExtensionSeconds int    `json:"extension_seconds"`
}

func (a *api) createAuction(ctx context.Context, token string, na newAuction) (auctionView, error) {
	var out auctionView
	err := a.call(ctx, http.MethodPost, "/api/v1/auctions", token, na, &out, http.StatusCreated)
	return out, err
}

func (a *api) auction(ctx context.Context, id int64) (auctionView, error) {
	var out auctionView
	err := a.callRetry(ctx, http.MethodGet, fmt.Sprintf("/api/v1/auctions/%d", id), "", nil, &out, http.StatusOK)
	return out, err
}

// bids is every accepted bid of an auction (the contract promises all of them, newest first).
func (a *api) bids(ctx context.Context, id int64) ([]bidView, error) {
	var out struct {
		Bids []bidView `json:"bids"`
	}
	err := a.callRetry(ctx, http.MethodGet, fmt.Sprintf("/api/v1/auctions/%d/bids", id), "", nil, &out, http.StatusOK)
	return out.Bids, err
}

func (a *api) cancelAuction(ctx context.Context, token string, id int64) error {
	return a.call(ctx, http.MethodPost, fmt.Sprintf("/api/v1/auctions/%d/cancel", id), token, struct{}{}, nil, http.StatusOK)
}

// metricsText is GET /metrics; ok is false when the server has none (404 and the like).
func (a *api) metricsText(ctx context.Context) (string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return "", false, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return "", false, a.unreachable(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", false, nil
	}
	return string(data), true, nil
}

// normalizeBase checks -url and reduces it to scheme://host[:port].
func normalizeBase(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-url must look like http://127.0.0.1:3000, got %q", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("-url must be the server's root (scheme, host and port only), got %q", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// sleepCtx sleeps d or until ctx ends, whichever is first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
