package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"auctionhouse/auction"
)

// Metrics is the Prometheus side of the engine's auction.Metrics, plus what the HTTP layer
// measures itself. Each Metrics has its own registry, so tests and several servers in one
// process never collide.
type Metrics struct {
	registry       *prometheus.Registry
	bids           *prometheus.CounterVec
	batchSize      prometheus.Histogram
	commitSeconds  prometheus.Histogram
	bidCommit      prometheus.Histogram
	dropped        prometheus.Counter
	broadcastDelay prometheus.Histogram
}

// NewMetrics builds the collectors, with the Go runtime and process collectors beside them.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		bids: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auction_bids_total",
			Help: "Bids decided, by result: accepted, or the code they were refused with.",
		}, []string{"result"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "auction_commit_batch_bids",
			Help:    "Bids stored by one group commit.",
			Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "auction_commit_seconds",
			Help:    "Duration of one group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		bidCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "auction_bid_to_commit_seconds",
			Help:    "Time from a bid's decision to the commit that stored it.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auction_dropped_watchers_total",
			Help: "Watchers dropped because they could not keep up with their own messages.",
		}),
		broadcastDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "auction_broadcast_delay_seconds",
			Help:    "Time from a state's commit to its write on a watcher's connection.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	m.registry.MustRegister(m.bids, m.batchSize, m.commitSeconds, m.bidCommit, m.dropped, m.broadcastDelay,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// BidDecided implements auction.Metrics.
func (m *Metrics) BidDecided(code auction.Code) {
	result := string(code)
	if code == "" {
		result = "accepted"
	}
	m.bids.WithLabelValues(result).Inc()
}

// BatchCommitted implements auction.Metrics.
func (m *Metrics) BatchCommitted(bids int, took time.Duration) {
	m.batchSize.Observe(float64(bids))
	m.commitSeconds.Observe(took.Seconds())
}

// BidCommitted implements auction.Metrics.
func (m *Metrics) BidCommitted(wait time.Duration) { m.bidCommit.Observe(wait.Seconds()) }

// WatcherDropped implements auction.Metrics.
func (m *Metrics) WatcherDropped() { m.dropped.Inc() }

// BroadcastDelivered observes how long a state took from its commit to a watcher's socket.
func (m *Metrics) BroadcastDelivered(delay time.Duration) { m.broadcastDelay.Observe(delay.Seconds()) }

// watch registers gauges read at scrape time from the server's live state.
func (m *Metrics) watch(s *Server) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "auction_active_actors",
			Help: "Auction actors running now.",
		}, func() float64 { return float64(s.engine.ActiveActors()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "auction_live_connections",
			Help: "Open WebSocket and SSE connections.",
		}, func() float64 { return float64(s.LiveConnections()) }),
	)
}

// handler serves the registry in the Prometheus text format.
func (m *Metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
}
