package main

import (
	"context"
	"fmt"
	"time"
)

// watcherPool opens a scenario's watchers, reads everything they receive, and closes them all
// at the end. Two kinds: one goroutine per watcher through the WebSocket library (any OS, ws://
// and wss://), and an event loop per CPU over raw sockets (Linux, ws://), which costs the bench
// about half the CPU per received frame. fanout with 10,000 watchers receives over 100,000
// frames a second on the server's own cores, so what the bench spends is what the server lacks.
type watcherPool interface {
	// open connects one anonymous watcher to the auction, reads its snapshot, and follows it.
	open(ctx context.Context, auctionID int64) (*watcher, error)
	// closeAll closes every watcher cleanly and returns once none is read any more, so that
	// their fields may be read; later calls do nothing.
	closeAll()
}

// Watcher readers, for -watcher-io.
const (
	watcherIOAuto      = "auto"
	watcherIOEpoll     = "epoll"
	watcherIOGoroutine = "goroutine"
)

// newWatcherPool returns the pool -watcher-io asks for; auto is epoll where it can run (Linux,
// ws://) and goroutines elsewhere. Receive times count from t0.
func (b *bench) newWatcherPool(t0 time.Time) (watcherPool, error) {
	return chooseIO("-watcher-io", b.cfg.WatcherIO,
		func() (watcherPool, error) { return newEpollPool(b.ws, t0) },
		func() watcherPool { return &goroutinePool{d: b.ws, t0: t0} })
}

// chooseIO returns what mode, the value of flag, asks for: the event-loop kind from loops, or
// the goroutine kind. auto (and "") takes the loops where they can run and goroutines elsewhere.
func chooseIO[T any](flag, mode string, loops func() (T, error), goroutines func() T) (T, error) {
	switch mode {
	case watcherIOGoroutine:
		return goroutines(), nil
	case watcherIOEpoll, watcherIOAuto, "":
		l, err := loops()
		if err == nil {
			return l, nil
		}
		if mode == watcherIOEpoll {
			var none T
			return none, fmt.Errorf("%s epoll: %w", flag, err)
		}
		return goroutines(), nil
	}
	var none T
	return none, fmt.Errorf("%s must be %s, %s or %s, not %q", flag, watcherIOAuto, watcherIOEpoll, watcherIOGoroutine, mode)
}

// goroutinePool reads each watcher with its own goroutine and the WebSocket library.
type goroutinePool struct {
	d   *wsDialer
	t0  time.Time
	set connSet
}

func (p *goroutinePool) open(ctx context.Context, auctionID int64) (*watcher, error) {
	c, snap, err := p.d.dial(ctx, auctionID, "")
	if err != nil {
		return nil, err
	}
	p.set.add(c)
	w := newWatcher(snap)
	p.set.readers.Add(1)
	go func() {
		defer p.set.readers.Done()
		for {
			b, err := c.read()
			if err != nil {
				c.ended(err)
				w.endCode.Store(c.endCode.Load())
				return
			}
			w.onMessage(b, time.Since(p.t0))
		}
	}()
	return w, nil
}

func (p *goroutinePool) closeAll() { p.set.closeAll() }
