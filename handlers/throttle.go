package handlers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// Throttling of password guessing and of account creation (OWASP ASVS V2.2.1, OWASP
// Authentication Cheat Sheet). All of it is off with RATE_LIMITS=off.
//
// Failed logins are counted twice: per username and client address together, so that one
// address cannot keep guessing one account's password, and per address alone, so that it cannot
// spray guesses over many accounts. Never per username alone: then anybody could lock anybody
// out of their account. Throttled attempts are refused before the database and bcrypt are
// touched, so a flood of them costs almost nothing. A successful login clears its username and
// address's failures.
//
// Signups are counted per address: each costs a bcrypt hash and makes a row.
const (
	// loginFailuresPerUserAddr failures of one username from one address per loginWindow.
	loginFailuresPerUserAddr = 5
	// loginFailuresPerAddr failures from one address, over any usernames, per loginWindow.
	// Higher, because many people may share an address behind a NAT.
	loginFailuresPerAddr = 50
	loginWindow          = 15 * time.Minute
	// signupsPerAddr accounts (attempts that reach bcrypt) per signupWindow from one address.
	signupsPerAddr = 20
	signupWindow   = time.Hour
	// throttleMaxKeys bounds each table of buckets; see bucketSet.makeRoom.
	throttleMaxKeys = 100_000
	// throttleSweepInterval is how often, at most, buckets that filled up again are dropped.
	throttleSweepInterval = time.Minute
)

// bucket is a token bucket's level at a moment.
type bucket struct {
	tokens float64
	at     time.Time
}

// bucketSet is one token bucket per key, each holding up to burst tokens and getting one back
// every refill: burst attempts at once, then burst per burst×refill on average. A full bucket is
// the same as none, so only keys with recent attempts take memory: full buckets are dropped
// (at most once per throttleSweepInterval, and whenever one is refunded to full), and the table
// never holds more than maxKeys. It is not safe for concurrent use; its owner locks.
type bucketSet struct {
	burst     float64
	refill    time.Duration
	maxKeys   int
	m         map[string]bucket
	lastSweep time.Time
}

func newBucketSet(burst int, window time.Duration, maxKeys int) *bucketSet {
	return &bucketSet{
		burst:   float64(burst),
		refill:  window / time.Duration(burst),
		maxKeys: maxKeys,
		m:       make(map[string]bucket),
	}
}

// tokens is key's level at now.
func (s *bucketSet) tokens(key string, now time.Time) float64 {
	b, ok := s.m[key]
	if !ok {
		return s.burst
	}
	elapsed := max(now.Sub(b.at), 0)
	return min(s.burst, b.tokens+float64(elapsed)/float64(s.refill))
}

// wait is how long until key has a token; 0 when it has one now.
func (s *bucketSet) wait(key string, now time.Time) time.Duration {
	t := s.tokens(key, now)
	if t >= 1 {
		return 0
	}
	return time.Duration(math.Round((1 - t) * float64(s.refill)))
}

// add changes key's level by delta (−1 takes a token, +1 gives one back), within 0..burst.
func (s *bucketSet) add(key string, delta float64, now time.Time) {
	if now.Sub(s.lastSweep) >= throttleSweepInterval {
		s.sweep(now)
	}
	t := min(max(s.tokens(key, now)+delta, 0), s.burst)
	if t >= s.burst {
		delete(s.m, key)
		return
	}
	if _, ok := s.m[key]; !ok {
		s.makeRoom(now)
	}
	s.m[key] = bucket{tokens: t, at: now}
}

// reset forgets key: its bucket is full again.
func (s *bucketSet) reset(key string) { delete(s.m, key) }

// sweep drops the buckets that are full again.
func (s *bucketSet) sweep(now time.Time) {
	s.lastSweep = now
	for k := range s.m {
		if s.tokens(k, now) >= s.burst {
			delete(s.m, k)
		}
	}
}

// makeRoom keeps the table under maxKeys before a key is added: first by dropping full buckets,
// then, if the table is still full, by dropping arbitrary ones. Forgetting a bucket gives that
// key its attempts back, so this fails open, never locking everyone out; reaching the cap takes
// maxKeys failed attempts within one refill period, each costing the attacker a bcrypt
// comparison's time on the server, so it is a guard against memory exhaustion, not a path
// around the limit.
func (s *bucketSet) makeRoom(now time.Time) {
	if len(s.m) < s.maxKeys {
		return
	}
	s.sweep(now)
	for k := range s.m {
		if len(s.m) < s.maxKeys {
			return
		}
		delete(s.m, k)
	}
}

// loginKey names the two buckets a login attempt draws on.
type loginKey struct {
	userAddr string // a hash of the lower-cased username and the address
	addr     string
}

// newLoginKey keys an attempt by username (regardless of case, like the login itself) and
// client address. The username is hashed so that a key is small whatever a client sends.
func newLoginKey(username, ip string) loginKey {
	addr := addrKey(ip)
	sum := sha256.Sum256([]byte(strings.ToLower(username) + "\x00" + addr))
	return loginKey{userAddr: string(sum[:16]), addr: addr}
}

// addrKey is the address that per-address limits count: an IPv4 address, or the /64 network of
// an IPv6 one, since a single subscriber usually holds a whole /64.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// loginThrottle counts failed logins. A nil *loginThrottle allows everything (RATE_LIMITS=off).
type loginThrottle struct {
	now func() time.Time

	mu       sync.Mutex
	userAddr *bucketSet
	addr     *bucketSet
}

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{
		now:      time.Now,
		userAddr: newBucketSet(loginFailuresPerUserAddr, loginWindow, throttleMaxKeys),
		addr:     newBucketSet(loginFailuresPerAddr, loginWindow, throttleMaxKeys),
	}
}

// begin takes a token from both of k's buckets for an attempt about to be checked, or reports
// how long to wait. The token is taken before the password is checked, not after it failed, so
// that concurrent attempts cannot all slip past the limit together; ended gives it back unless
// the attempt failed.
func (t *loginThrottle) begin(k loginKey) (wait time.Duration, ok bool) {
	if t == nil {
		return 0, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if w := max(t.userAddr.wait(k.userAddr, now), t.addr.wait(k.addr, now)); w > 0 {
		return w, false
	}
	t.userAddr.add(k.userAddr, -1, now)
	t.addr.add(k.addr, -1, now)
	return 0, true
}

// loginOutcome is how an attempt that begin let through ended.
type loginOutcome int

const (
	loginFailed    loginOutcome = iota // wrong username or password: the tokens stay taken
	loginSucceeded                     // the username and address start afresh; the address's token comes back
	loginErrored                       // the server failed (say, the database): not the client's failure
)

// ended settles an attempt that begin let through.
func (t *loginThrottle) ended(k loginKey, outcome loginOutcome) {
	if t == nil || outcome == loginFailed {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if outcome == loginSucceeded {
		t.userAddr.reset(k.userAddr)
	} else {
		t.userAddr.add(k.userAddr, +1, now)
	}
	t.addr.add(k.addr, +1, now)
}

// addrThrottle is one token bucket per client address, for signups. A nil *addrThrottle allows
// everything (RATE_LIMITS=off).
type addrThrottle struct {
	now func() time.Time

	mu      sync.Mutex
	buckets *bucketSet
}

func newAddrThrottle(burst int, window time.Duration) *addrThrottle {
	return &addrThrottle{now: time.Now, buckets: newBucketSet(burst, window, throttleMaxKeys)}
}

// take takes a token of ip's bucket, or reports how long to wait for one.
func (t *addrThrottle) take(ip string) (wait time.Duration, ok bool) {
	if t == nil {
		return 0, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now, key := t.now(), addrKey(ip)
	if w := t.buckets.wait(key, now); w > 0 {
		return w, false
	}
	t.buckets.add(key, -1, now)
	return 0, true
}

// giveBack returns a token that take took for an attempt the server, not the client, failed.
func (t *addrThrottle) giveBack(ip string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buckets.add(addrKey(ip), +1, t.now())
}

// limitedError is a rate_limited refusal that knows when trying again makes sense; handleError
// sends that as Retry-After.
type limitedError struct {
	err        *auction.Error
	retryAfter time.Duration
}

func (e *limitedError) Error() string { return e.err.Error() }
func (e *limitedError) Unwrap() error { return e.err }

// rateLimited is a rate_limited error to retry after wait, with a message that says when.
func rateLimited(wait time.Duration, what string) error {
	return &limitedError{
		err:        auction.Errorf(auction.CodeRateLimited, "%s; try again in %s", what, humanWait(wait)),
		retryAfter: wait,
	}
}

// retryAfterSeconds is the Retry-After value of a wait: whole seconds, rounded up, at least 1.
func retryAfterSeconds(wait time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(wait.Seconds())), 1), 10)
}

// humanWait says a wait the way a message to a person would: "40 seconds", "3 minutes".
func humanWait(wait time.Duration) string {
	secs := max(int64(math.Ceil(wait.Seconds())), 1)
	switch {
	case secs == 1:
		return "1 second"
	case secs < 60:
		return fmt.Sprintf("%d seconds", secs)
	case secs <= 90:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", (secs+59)/60)
	}
}

// login checks a username and password under the login throttle; both sign-in routes (the API's
// POST /api/v1/sessions and the page's POST /login) go through it. A throttled attempt is a
// *limitedError and reaches neither the database nor bcrypt.
func (s *Server) login(c *fiber.Ctx, username, password string) (*models.User, error) {
	key := newLoginKey(username, s.clientIP(c))
	if wait, ok := s.logins.begin(key); !ok {
		return nil, rateLimited(wait, "too many failed sign-ins from your address")
	}
	user, err := s.checkPassword(c.UserContext(), username, password)
	switch {
	case err == nil:
		s.logins.ended(key, loginSucceeded)
	case auction.ErrorCode(err) == auction.CodeUnauthenticated:
		s.logins.ended(key, loginFailed)
	default:
		s.logins.ended(key, loginErrored)
	}
	return user, err
}

// createAccount hashes the password of credentials that passed validation and creates the user,
// under the per-address signup limit; both signup routes go through it. It returns
// models.ErrDuplicate (wrapped) for a taken name, a *limitedError when throttled.
func (s *Server) createAccount(c *fiber.Ctx, username, password string) (*models.User, error) {
	ip := s.clientIP(c)
	if wait, ok := s.signups.take(ip); !ok {
		return nil, rateLimited(wait, "too many new accounts from your address")
	}
	user, err := s.newUser(c.UserContext(), username, password)
	// A taken name still cost a hash, so it counts; only the server's own failures do not.
	if err != nil && auction.ErrorCode(err) == auction.CodeInternal && !isDuplicate(err) {
		s.signups.giveBack(ip)
	}
	return user, err
}

// newUser hashes password and stores the account.
func (s *Server) newUser(ctx context.Context, username, password string) (*models.User, error) {
	hash, err := s.hashPassword(password)
	if err != nil {
		return nil, err
	}
	user := &models.User{Username: username, PasswordHash: hash, CreatedAt: s.now().UTC()}
	if err := s.store.CreateUser(ctx, user); err != nil {
		if isDuplicate(err) {
			return nil, err
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return user, nil
}

func isDuplicate(err error) bool { return errors.Is(err, models.ErrDuplicate) }
