package main

import (
	"context"
	"fmt"
	"time"
)

// The idle scenario: C anonymous watchers on one auction do nothing but hold their connection;
// the server's resident memory before and after gives the cost of one connection.

func (b *bench) runIdle(ctx context.Context) (*Result, error) {
	cfg := b.cfg
	if cfg.Conns < 1 {
		return nil, fmt.Errorf("-conns must be at least 1")
	}
	if err := checkFileLimit(cfg.Conns); err != nil {
		return nil, err
	}
	res := &Result{Scenario: "idle", URL: cfg.URL, Started: time.Now()}
	res.param("conns", "idle watchers", cfg.Conns, "")
	res.param("settle_s", "wait after connecting", cfg.Settle.Seconds(), "s")

	auctions, err := b.newAuctions(ctx, 1)
	if err != nil {
		return nil, err
	}
	auctionID := auctions[0].ID

	before := b.serverRSS(ctx)

	pool, err := b.newWatcherPool(time.Now())
	if err != nil {
		return nil, err
	}
	defer pool.closeAll()
	watchers, connectTime, err := b.connectWatchers(ctx, auctionID, cfg.Conns, cfg.DialConcurrency, pool)
	if err != nil {
		return nil, err
	}
	b.prog.logf("%d watchers connected in %s; waiting %s", cfg.Conns, connectTime.Round(time.Millisecond), cfg.Settle)

	held := time.Now()
	cpuFrom := b.cpuNow()
	b.prog.set(func() string {
		return fmt.Sprintf("holding %d connections %.0fs/%.0fs", cfg.Conns, time.Since(held).Seconds(), cfg.Settle.Seconds())
	})
	if err := sleepCtx(ctx, cfg.Settle); err != nil {
		return nil, err
	}
	after := b.serverRSS(ctx)
	cpuTo := b.cpuNow()
	res.Measured = time.Since(held)
	a, aerr := b.awaitWatchers(ctx, auctionID, int64(cfg.Conns), watcherCountWait)

	pool.closeAll()
	var states, dropped int64
	for _, w := range watchers {
		states += w.states
		if w.endCode.Load() != 0 {
			dropped++
		}
	}
	res.metric("connections", "connections held", cfg.Conns, "")
	res.metric("connect_seconds", "time to connect all", connectTime.Seconds(), "s")
	res.metric("connects_per_s", "connections opened/s", float64(cfg.Conns)/connectTime.Seconds(), "")
	res.metric("states_per_conn", "states received per connection (mean)", float64(states)/float64(cfg.Conns), "")
	b.addCPU(res, cpuFrom, cpuTo)
	b.addRSS(res, before, after, cfg.Conns)
	if before.ok() && after.ok() {
		res.note("RSS counts what the server has not returned to the OS, e.g. garbage from the %.0f states each connection received while the others connected; a freshly started server gives the cleanest figure", float64(states)/float64(cfg.Conns))
	}
	if aerr != nil {
		res.check("server counts every watcher", false, "GET the auction: %v", aerr)
	} else {
		res.check("server counts every watcher", a.Watchers == int64(cfg.Conns), "watchers %d, connected %d", a.Watchers, cfg.Conns)
	}
	res.check("no connection dropped by the server", dropped == 0, "%d of %d dropped", dropped, cfg.Conns)
	return res, nil
}

// watcherCountWait is how long the server may take to publish a changed watcher count: the
// contract lets it coalesce counts rather than send one state per arrival.
const watcherCountWait = 5 * time.Second

// awaitWatchers polls the auction until it counts want watchers or wait passes, and returns the
// last state seen.
func (b *bench) awaitWatchers(ctx context.Context, id, want int64, wait time.Duration) (auctionView, error) {
	deadline := time.Now().Add(wait)
	for {
		a, err := b.api.auction(ctx, id)
		if err != nil || a.Watchers == want || time.Now().After(deadline) {
			return a, err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return a, err
		}
	}
}
