package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bid rate limit per user over WebSockets: a token bucket shared by all of that user's
// connections, so opening more sockets buys no more bids. Ten a second with bursts of twenty
// is far beyond what a person clicks and still lets a script bid briskly.
const (
	wsBidRate  = rate.Limit(10)
	wsBidBurst = 20
)

// limiterSweepInterval is how often idle buckets are dropped, at most.
const limiterSweepInterval = time.Minute

// keyedLimiter is one token bucket per key (a user id). Buckets that have refilled completely
// are indistinguishable from new ones, so they are dropped now and then; the map therefore
// holds only recently active keys, and there is no goroutine behind it.
type keyedLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[int64]*rate.Limiter
	lastSweep time.Time
}

func newKeyedLimiter(limit rate.Limit, burst int) *keyedLimiter {
	return &keyedLimiter{limit: limit, burst: burst, now: time.Now, buckets: make(map[int64]*rate.Limiter)}
}

// allow takes a token from key's bucket, reporting whether there was one. A nil limiter
// allows everything (RATE_LIMITS=off).
func (l *keyedLimiter) allow(key int64) bool {
	if l == nil {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= limiterSweepInterval {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}

// sweep drops the buckets that are full again; it runs under mu, at most once a
// limiterSweepInterval, so its cost is spread over that many calls.
func (l *keyedLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}
