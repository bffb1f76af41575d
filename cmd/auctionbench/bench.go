package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Config is everything a scenario needs; main fills it from the flags, tests directly.
type Config struct {
	// CPUProfile, when set, is where the bench writes its own CPU profile.
	CPUProfile string
	URL        string
	Duration   time.Duration
	JSONPath   string
	PID        int
	AdminUser  string
	AdminPass  string

	Bidders           int     // hot, many
	MaxFraction       float64 // hot, many
	Auctions          int     // many
	AuctionsPerBidder int     // many; 0 chooses so that every auction has at least two bidders
	Watchers          int     // fanout
	Rate              float64 // fanout
	Conns             int     // idle
	Settle            time.Duration

	DialConcurrency int
	// WatcherIO chooses how watchers are read (fanout, idle): watcherIOAuto, watcherIOEpoll or
	// watcherIOGoroutine.
	WatcherIO string
	// BidderIO chooses the same for bidders (hot, many).
	BidderIO string
	// Progress receives a status line every ProgressEvery (stderr in main).
	Progress      io.Writer
	ProgressEvery time.Duration
}

// setupConcurrency bounds parallel sign-ups, sign-ins and auction creations: each sign-up and
// sign-in costs the server a bcrypt hash, and more in parallel only queues them.
const setupConcurrency = 8

// bench is one run against one server.
type bench struct {
	cfg   Config
	api   *api
	ws    *wsDialer
	runID string
	prog  *progress
	// auctions the run created, cancelled at the end when admin credentials are given.
	created []int64
}

func newBench(cfg Config) (*bench, error) {
	base, err := normalizeBase(cfg.URL)
	if err != nil {
		return nil, err
	}
	cfg.URL = base
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 200
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 2 * time.Second
	}
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	return &bench{
		cfg:   cfg,
		api:   newAPI(base),
		ws:    newWSDialer(base),
		runID: hex.EncodeToString(id[:]),
		prog:  newProgress(cfg.Progress),
	}, nil
}

// account is a signed-in user.
type account struct {
	ID    int64
	Name  string
	Token string
}

// signUpMany creates and signs in n users named ab<run>-<role><i>.
func (b *bench) signUpMany(ctx context.Context, role string, n int) ([]account, error) {
	out := make([]account, n)
	var done atomic.Int64
	b.prog.set(func() string { return fmt.Sprintf("signing up %s users %d/%d", role, done.Load(), n) })
	err := parallel(ctx, n, setupConcurrency, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("ab%s-%s%d", b.runID, role, i)
		password := "pw-" + b.runID + "-bench"
		u, err := b.api.signUp(ctx, name, password)
		if err != nil {
			return err
		}
		token, err := b.api.signIn(ctx, name, password)
		if err != nil {
			return err
		}
		out[i] = account{ID: u.ID, Name: name, Token: token}
		done.Add(1)
		return nil
	})
	return out, err
}

// newAuctions signs up a seller of its own and lists n auctions for the run.
func (b *bench) newAuctions(ctx context.Context, n int) ([]auctionView, error) {
	seller, err := b.signUpMany(ctx, "seller", 1)
	if err != nil {
		return nil, fmt.Errorf("set up the seller: %w", err)
	}
	auctions, err := b.createAuctions(ctx, seller[0], n)
	if err != nil {
		return nil, fmt.Errorf("create auctions: %w", err)
	}
	return auctions, nil
}

// createAuctions lists n auctions as seller, open now, ending well after the run, with soft
// close off so that late bids do not move ends_at.
func (b *bench) createAuctions(ctx context.Context, seller account, n int) ([]auctionView, error) {
	out := make([]auctionView, n)
	endsAt := time.Now().Add(b.cfg.Duration + 10*time.Minute).UTC().Format(time.RFC3339)
	var done atomic.Int64
	b.prog.set(func() string { return fmt.Sprintf("creating auctions %d/%d", done.Load(), n) })
	var mu sync.Mutex
	err := parallel(ctx, n, setupConcurrency, func(ctx context.Context, i int) error {
		a, err := b.api.createAuction(ctx, seller.Token, newAuction{
			Title:            fmt.Sprintf("auctionbench %s #%d", b.runID, i),
			Description:      "Created by auctionbench, a load test.",
			StartingPrice:    "1.00",
			EndsAt:           endsAt,
			ExtensionSeconds: 0,
		})
		if err != nil {
			return err
		}
		if a.Status != "open" {
			return fmt.Errorf("new auction %d is %q, not open", a.ID, a.Status)
		}
		out[i] = a
		mu.Lock()
		b.created = append(b.created, a.ID)
		mu.Unlock()
		done.Add(1)
		return nil
	})
	return out, err
}

// cleanup cancels the run's auctions when admin credentials were given, so that they do not
// linger in the list of open auctions.
func (b *bench) cleanup(ctx context.Context) {
	defer b.api.close()
	if b.cfg.AdminUser == "" || len(b.created) == 0 {
		return
	}
	token, err := b.api.signIn(ctx, b.cfg.AdminUser, b.cfg.AdminPass)
	if err != nil {
		fmt.Fprintf(b.cfg.Progress, "auctionbench: cleanup: sign in as %s: %v\n", b.cfg.AdminUser, err)
		return
	}
	var failed atomic.Int64
	_ = parallel(ctx, len(b.created), setupConcurrency, func(ctx context.Context, i int) error {
		if err := b.api.cancelAuction(ctx, token, b.created[i]); err != nil {
			failed.Add(1)
		}
		return nil
	})
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(b.cfg.Progress, "auctionbench: cleanup: %d of %d auctions could not be cancelled\n", n, len(b.created))
	}
}

// parallel runs fn(0..n-1), at most limit at a time, and returns the first error; the others
// then see a cancelled context.
func parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := 0; i < n; i++ {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}

// progress prints a status line every few seconds, so that long phases show they are alive.
type progress struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
	fn    func() string
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) set(fn func() string) {
	p.mu.Lock()
	p.fn = fn
	p.mu.Unlock()
}

func (p *progress) logf(format string, args ...any) {
	fmt.Fprintf(p.w, "auctionbench: [%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// run prints until ctx ends.
func (p *progress) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.mu.Lock()
			fn := p.fn
			p.mu.Unlock()
			if fn != nil {
				p.logf("%s", fn())
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// probeLive opens and closes one anonymous connection to the auction, so that a server without
// a working live endpoint fails the run before the slow part of the setup.
func (b *bench) probeLive(ctx context.Context, auctionID int64) error {
	c, _, err := b.ws.dial(ctx, auctionID, "")
	if err != nil {
		return err
	}
	c.close()
	c.ws.Close()
	return nil
}
