package handlers

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// throttleEnv is a server with pages behind a trusted proxy, so that tests pick the client's
// address with X-Forwarded-For, with the throttles' clocks stopped (advance moves them) and
// bcrypt comparisons counted.
type throttleEnv struct {
	*env
	clock    time.Time
	compares atomic.Int64
}

func newThrottleEnv(t *testing.T, store *models.Store, mod func(*Config)) *throttleEnv {
	cfg := pagesConfig(t)
	cfg.TrustProxy = true
	if mod != nil {
		mod(&cfg)
	}
	te := &throttleEnv{env: newEnv(t, store, cfg, nil), clock: time.Now()}
	now := func() time.Time { return te.clock }
	if te.srv.logins != nil {
		te.srv.logins.now = now
		te.srv.signups.now = now
	}
	te.srv.comparePassword = func(hash, password []byte) error {
		te.compares.Add(1)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	return te
}

func (te *throttleEnv) advance(d time.Duration) { te.clock = te.clock.Add(d) }

func from(ip string) reqOpt { return header("X-Forwarded-For", ip) }

// loginRoute is one of the two ways to sign in; both share one throttle.
type loginRoute struct {
	name string
	// try signs in from ip and returns the answer.
	try func(te *throttleEnv, ip, username, password string) response
	// ok and failed are the statuses of a success and of a wrong password.
	ok, failed int
	// expectThrottled checks a throttled answer.
	expectThrottled func(t *testing.T, r response, username string)
}

var loginRoutes = []loginRoute{
	{
		name: "API",
		try: func(te *throttleEnv, ip, username, password string) response {
			return te.do("POST", "/api/v1/sessions", jsonBody(map[string]string{"username": username, "password": password}), from(ip))
		},
		ok: 201, failed: 401,
		expectThrottled: func(t *testing.T, r response, _ string) {
			t.Helper()
			r.expectError(t, 429, auction.CodeRateLimited)
		},
	},
	{
		name: "login form",
		try: func(te *throttleEnv, ip, username, password string) response {
			b := te.browser()
			tok := b.token("/login")
			return b.post("/login", url.Values{"_csrf": {tok}, "username": {username}, "password": {password}}, from(ip))
		},
		ok: 303, failed: 401,
		expectThrottled: func(t *testing.T, r response, username string) {
			t.Helper()
			body := r.expectPage(t, 429)
			if !strings.Contains(body, "Too many failed attempts. Try again in") {
				t.Errorf("the form does not say why:\n%s", body)
			}
			if !strings.Contains(element(t, body, "username"), `value="`+username+`"`) {
				t.Errorf("the username was not kept")
			}
		},
	},
}

// expectLimited checks what every throttled answer has: no session, and Retry-After.
func expectLimited(t *testing.T, r response, retryAfter time.Duration) {
	t.Helper()
	if got, want := r.Header.Get("Retry-After"), strconv.Itoa(int(retryAfter.Seconds())); got != want {
		t.Errorf("Retry-After %q, want %q", got, want)
	}
	if c := r.cookieNamed(sessionCookie); c != nil && c.Value != "" {
		t.Errorf("a throttled login set a session cookie")
	}
}

// loginStep is one attempt of a scripted sequence; status 429 means throttled, with wait in
// Retry-After.
type loginStep struct {
	what               string
	ip, user, password string
	status             int
	// advance moves the clock before the attempt.
	advance time.Duration
	wait    time.Duration
}

// runLoginSteps makes each attempt on route and checks its answer, and that bcrypt ran once for
// each attempt let through and never for a throttled one.
func runLoginSteps(t *testing.T, te *throttleEnv, route loginRoute, steps []loginStep) {
	t.Helper()
	for _, s := range steps {
		te.advance(s.advance)
		before := te.compares.Load()
		r := route.try(te, s.ip, s.user, s.password)
		n := te.compares.Load() - before
		if s.status == 429 {
			route.expectThrottled(t, r, s.user)
			expectLimited(t, r, s.wait)
			if n != 0 {
				t.Fatalf("%s: a throttled attempt ran bcrypt %d times", s.what, n)
			}
			continue
		}
		if r.Status != s.status {
			t.Fatalf("%s: status %d, want %d; body %s", s.what, r.Status, s.status, r.Body)
		}
		if n != 1 {
			t.Fatalf("%s: bcrypt ran %d times, want once", s.what, n)
		}
	}
}

const wrongPassword = "wrong password"

func TestLoginThrottle(t *testing.T) {
	// After the burst, one attempt comes back every refill.
	refill := loginWindow / loginFailuresPerUserAddr
	const ip, other = "203.0.113.7", "198.51.100.9"
	for _, route := range loginRoutes {
		t.Run(route.name, func(t *testing.T) {
			t.Run("per username and address", func(t *testing.T) {
				dbtest.Each(t, func(t *testing.T, store *models.Store) {
					te := newThrottleEnv(t, store, nil)
					te.signup("ann")
					te.signup("bob")
					var steps []loginStep
					for i := range loginFailuresPerUserAddr {
						steps = append(steps, loginStep{"failure " + strconv.Itoa(i+1), ip, "ann", wrongPassword, route.failed, 0, 0})
					}
					steps = append(steps,
						loginStep{"the right password, throttled", ip, "ann", testPassword, 429, 0, refill},
						loginStep{"another case of the name, throttled", ip, "ANN", wrongPassword, 429, 0, refill},
						loginStep{"still throttled a second before the refill", ip, "ann", testPassword, 429, refill - time.Second, time.Second},
						loginStep{"the same name from another address", other, "ann", testPassword, route.ok, 0, 0},
						loginStep{"another name from the same address", ip, "bob", testPassword, route.ok, 0, 0},
						loginStep{"one attempt back after a refill period", ip, "ann", testPassword, route.ok, time.Second, 0},
					)
					// That success cleared ann's failures from ip: a full burst again.
					for i := range loginFailuresPerUserAddr {
						steps = append(steps, loginStep{"after success, failure " + strconv.Itoa(i+1), ip, "Ann", wrongPassword, route.failed, 0, 0})
					}
					steps = append(steps, loginStep{"after success, throttled again", ip, "ann", wrongPassword, 429, 0, refill})
					runLoginSteps(t, te, route, steps)
				})
			})
			t.Run("per address", func(t *testing.T) {
				dbtest.Each(t, func(t *testing.T, store *models.Store) {
					te := newThrottleEnv(t, store, nil)
					te.signup("ann")
					var steps []loginStep
					// Spraying one guess over many names: each name is fresh, the address is not.
					for i := range loginFailuresPerAddr {
						steps = append(steps, loginStep{"spray " + strconv.Itoa(i+1), ip, "user" + strconv.Itoa(i), wrongPassword, route.failed, 0, 0})
					}
					wait := loginWindow / loginFailuresPerAddr
					steps = append(steps,
						loginStep{"a fresh name from the address", ip, "fresh", wrongPassword, 429, 0, wait},
						loginStep{"a real account from the address", ip, "ann", testPassword, 429, 0, wait},
						loginStep{"another address", other, "ann", testPassword, route.ok, 0, 0},
					)
					runLoginSteps(t, te, route, steps)
				})
			})
			t.Run("off", func(t *testing.T) {
				dbtest.Each(t, func(t *testing.T, store *models.Store) {
					te := newThrottleEnv(t, store, func(c *Config) { c.DisableRateLimits = true })
					te.signup("ann")
					var steps []loginStep
					for i := range 3 * loginFailuresPerUserAddr {
						steps = append(steps, loginStep{"failure " + strconv.Itoa(i+1), ip, "ann", wrongPassword, route.failed, 0, 0})
					}
					steps = append(steps, loginStep{"the right password", ip, "ann", testPassword, route.ok, 0, 0})
					runLoginSteps(t, te, route, steps)
				})
			})
		})
	}
}

// TestLoginThrottleShared: the API and the login form count failures together, and a client
// cannot escape by forging X-Forwarded-For when the server does not trust a proxy.
func TestLoginThrottleShared(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, store *models.Store) {
		te := newThrottleEnv(t, store, func(c *Config) { c.TrustProxy = false })
		te.signup("ann")
		api, form := loginRoutes[0], loginRoutes[1]
		for i := range loginFailuresPerUserAddr {
			route := api
			if i%2 == 1 {
				route = form
			}
			// A fresh forged address each time: ignored.
			if r := route.try(te, "192.0.2."+strconv.Itoa(i+1), "ann", wrongPassword); r.Status != 401 {
				t.Fatalf("failure %d: status %d", i+1, r.Status)
			}
		}
		for _, route := range loginRoutes {
			r := route.try(te, "192.0.2.200", "ann", testPassword)
			route.expectThrottled(t, r, "ann")
		}
	})
}

// TestLoginThrottleServerErrors: an attempt the server failed (not a wrong password) does not
// count against the client.
func TestLoginThrottleServerErrors(t *testing.T) {
	lt := newLoginThrottle()
	now := time.Unix(1_700_000_000, 0)
	lt.now = func() time.Time { return now }
	k := newLoginKey("ann", "203.0.113.7")
	for range 3 * loginFailuresPerUserAddr {
		if _, ok := lt.begin(k); !ok {
			t.Fatal("throttled after server errors")
		}
		lt.ended(k, loginErrored)
	}
	for range loginFailuresPerUserAddr {
		if _, ok := lt.begin(k); !ok {
			t.Fatal("throttled before the limit")
		}
		lt.ended(k, loginFailed)
	}
	if wait, ok := lt.begin(k); ok || wait != loginWindow/loginFailuresPerUserAddr {
		t.Fatalf("after the limit: ok %v, wait %v", ok, wait)
	}
	var off *loginThrottle
	if _, ok := off.begin(k); !ok {
		t.Error("a nil throttle refused")
	}
	off.ended(k, loginFailed)
}

func TestAddrKey(t *testing.T) {
	for _, tt := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"not an address", "not an address"},
	} {
		if got := addrKey(tt.ip); got != tt.want {
			t.Errorf("addrKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
	if newLoginKey("Ann", "2001:db8::1") != newLoginKey("aNN", "2001:db8::2") {
		t.Error("one name from one /64 has two keys")
	}
	if newLoginKey("ann", "203.0.113.7") == newLoginKey("bob", "203.0.113.7") {
		t.Error("two names share a key")
	}
}

func TestBucketSet(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newBucketSet(2, 2*time.Minute, 3) // a token back every minute
	if s.wait("a", now) != 0 {
		t.Fatal("a new key must have tokens")
	}
	s.add("a", -1, now)
	s.add("a", -1, now)
	if w := s.wait("a", now); w != time.Minute {
		t.Fatalf("empty bucket: wait %v", w)
	}
	// A third of a token back: two thirds of a minute to wait.
	if w := s.wait("a", now.Add(20*time.Second)); w != 40*time.Second {
		t.Fatalf("a third refilled: wait %v", w)
	}
	s.add("a", -1, now) // never below empty
	if s.tokens("a", now) != 0 {
		t.Fatalf("tokens %v", s.tokens("a", now))
	}
	s.add("a", +5, now) // never above full; full is forgotten
	if _, ok := s.m["a"]; ok {
		t.Fatal("a full bucket is kept")
	}
	// The table never holds more than maxKeys: full buckets go first, then arbitrary ones.
	for i := range 10 {
		s.add("k"+strconv.Itoa(i), -1, now)
		if len(s.m) > 3 {
			t.Fatalf("%d keys, cap 3", len(s.m))
		}
	}
	later := now.Add(throttleSweepInterval + 2*time.Minute)
	s.add("x", -1, later)
	if len(s.m) != 1 {
		t.Fatalf("after everything refilled, %d keys remain: %v", len(s.m), s.m)
	}
	// A clock that goes back never adds tokens.
	s.add("y", -2, later)
	if s.tokens("y", later.Add(-time.Hour)) != 0 {
		t.Fatal("tokens from a clock going back")
	}
}

func TestSignupThrottle(t *testing.T) {
	refill := signupWindow / signupsPerAddr
	const ip, other = "203.0.113.7", "198.51.100.9"
	signupAPI := func(te *throttleEnv, ip, name string) response {
		return te.do("POST", "/api/v1/users", jsonBody(map[string]string{"username": name, "password": testPassword}), from(ip))
	}
	signupForm := func(te *throttleEnv, ip, name string) response {
		b := te.browser()
		tok := b.token("/signup")
		return b.post("/signup", url.Values{"_csrf": {tok}, "username": {name}, "password": {testPassword}}, from(ip))
	}
	t.Run("limited", func(t *testing.T) {
		dbtest.Each(t, func(t *testing.T, store *models.Store) {
			te := newThrottleEnv(t, store, nil)
			for i := range signupsPerAddr {
				// Both routes count; a taken name counts too (it cost a hash).
				switch {
				case i == 0:
					signupAPI(te, ip, "user0").expect(t, 201)
				case i == 1:
					signupAPI(te, ip, "USER0").expectError(t, 409, auction.CodeConflict)
				case i%2 == 0:
					signupForm(te, ip, "user"+strconv.Itoa(i)).expectRedirect(t, "/")
				default:
					signupAPI(te, ip, "user"+strconv.Itoa(i)).expect(t, 201)
				}
			}
			// Invalid input is refused as such, and is cheap, so it neither counts nor is
			// throttled.
			signupAPI(te, ip, "x").expectError(t, 400, auction.CodeInvalidRequest)

			r := signupAPI(te, ip, "late")
			r.expectError(t, 429, auction.CodeRateLimited)
			expectLimited(t, r, refill)
			r = signupForm(te, ip, "late")
			body := r.expectPage(t, 429)
			expectLimited(t, r, refill)
			if !strings.Contains(body, "Too many new accounts were made from your address") {
				t.Errorf("the form does not say why:\n%s", body)
			}
			if userExists(t, te.env, "late") {
				t.Fatal("a throttled signup created the account")
			}
			signupAPI(te, other, "elsewhere").expect(t, 201)
			te.advance(refill)
			signupAPI(te, ip, "late").expect(t, 201)
			signupAPI(te, ip, "later").expectError(t, 429, auction.CodeRateLimited)
		})
	})
	t.Run("off", func(t *testing.T) {
		dbtest.Each(t, func(t *testing.T, store *models.Store) {
			te := newThrottleEnv(t, store, func(c *Config) { c.DisableRateLimits = true })
			for i := range signupsPerAddr + 5 {
				signupAPI(te, ip, "user"+strconv.Itoa(i)).expect(t, http.StatusCreated)
			}
		})
	})
}
