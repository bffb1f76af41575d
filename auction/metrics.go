package auction

import "time"

// Metrics receives the engine's measurements. The engine calls it from actor goroutines, so an
// implementation must be safe for concurrent use and quick; the handlers export it to
// Prometheus. Keeping it an interface keeps the engine free of any metrics library.
type Metrics interface {
	// BidDecided counts one bid: code is "" when it was accepted, else why it was refused.
	BidDecided(code Code)
	// BatchCommitted observes one stored batch: how many bids it held and how long the
	// transaction took.
	BatchCommitted(bids int, took time.Duration)
	// BidCommitted observes, for one accepted bid, the time from its decision to its commit.
	BidCommitted(wait time.Duration)
	// WatcherDropped counts a watcher dropped for not keeping up with its own messages.
	WatcherDropped()
}

// noMetrics measures nothing.
type noMetrics struct{}

func (noMetrics) BidDecided(Code)                   {}
func (noMetrics) BatchCommitted(int, time.Duration) {}
func (noMetrics) BidCommitted(time.Duration)        {}
func (noMetrics) WatcherDropped()                   {}
