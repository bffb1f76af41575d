// Command auctionhouse serves the real-time auction platform: pages and a JSON API over HTTP,
// live bidding over WebSockets, one actor per auction in front of PostgreSQL or SQLite.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"auctionhouse/auction"
	"auctionhouse/handlers"
	"auctionhouse/models"
)

// assets are the page templates and the static files (CSS, JavaScript, images), built into the
// binary so that it runs from any directory with nothing beside it.
//
//go:embed templates static
var assets embed.FS

// sub returns the directory dir of assets; dir is a literal embedded above, so it cannot fail.
func sub(dir string) fs.FS {
	f, err := fs.Sub(assets, dir)
	if err != nil {
		panic(fmt.Sprintf("embedded %s: %v", dir, err))
	}
	return f
}

// shutdownTimeout bounds the engine's part of a graceful stop (actors commit and answer what
// they accepted); httpDrainTimeout bounds the HTTP server's drain after it.
const (
	shutdownTimeout  = 15 * time.Second
	httpDrainTimeout = 3 * time.Second
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		err = healthcheck(os.Getenv, 3*time.Second)
	} else {
		err = run(os.Getenv)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "auctionhouse: "+err.Error())
		os.Exit(1)
	}
}

// healthcheck asks the server on this machine's PORT for /healthz, for container health checks:
// the final image has no shell and no curl.
func healthcheck(getenv func(string) string, timeout time.Duration) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: timeout}
	url := "http://127.0.0.1:" + strconv.Itoa(cfg.Port) + "/healthz"
	res, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, res.Status)
	}
	return nil
}

// run starts everything and blocks until SIGINT or SIGTERM, then stops in order: the engine
// stores and answers what it accepted and ends every subscription, then HTTP stops.
func run(getenv func(string) string) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()

	engine, srv := assemble(cfg, store, logger)
	if err := engine.Start(ctx); err != nil {
		_ = engine.Shutdown(context.Background())
		return fmt.Errorf("start the auction engine: %w", err)
	}
	if cfg.AdminUsername != "" {
		if err := srv.EnsureAdmin(ctx, cfg.AdminUsername, cfg.AdminPassword); err != nil {
			return fmt.Errorf("ADMIN_USERNAME/ADMIN_PASSWORD: %w", err)
		}
	}
	app := srv.App()
	if cfg.DebugAddr != "" {
		go serveDebug(cfg.DebugAddr, logger)
	}

	listenErr := make(chan error, 1)
	go func() { listenErr <- app.Listen(":" + strconv.Itoa(cfg.Port)) }()
	logger.Info("listening", "port", cfg.Port, "database", store.Dialect())

	select {
	case err := <-listenErr:
		_ = engine.Shutdown(context.Background())
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	if err := engine.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	// What HTTP still holds after a short drain is a connection with no complete request (a
	// browser's preconnect, a slow client): the engine has already stored and answered all it
	// accepted, so closing those loses nothing and must not fail the stop (PROTOCOL.md §1).
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), httpDrainTimeout)
	defer cancelDrain()
	// The engine has ended every subscription; let the WebSockets send what they owe and their
	// close frames, and the event streams their last chunk, before the process can end
	// (fasthttp's Shutdown does not wait for hijacked connections).
	if err := srv.AwaitLiveClosed(drainCtx); err != nil {
		logger.Warn("stopped waiting for WebSockets and event streams to close", "err", err)
	}
	if err := app.ShutdownWithContext(drainCtx); err != nil {
		logger.Warn("closed connections that had not finished a request", "err", err)
	}
	return errors.Join(errs...)
}

// serveDebug serves pprof on a loopback address (checked by loadConfig) for profiling a live
// server: go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10
func serveDebug(addr string, logger *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	logger.Info("serving pprof", "addr", addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		logger.Error("pprof listener stopped", "err", err)
	}
}

// assemble builds the engine and the HTTP server on store, sharing one set of metrics: the
// engine measures bids and commits, the server exports them with its own at /metrics.
func assemble(cfg config, store *models.Store, logger *slog.Logger) (*auction.Engine, *handlers.Server) {
	metrics := handlers.NewMetrics()
	engine := auction.New(store, auction.Options{Logger: logger, Metrics: metrics})
	srv := handlers.New(handlers.Config{
		AllowedOrigins:    cfg.AllowedOrigins,
		DisableRateLimits: !cfg.RateLimits,
		TrustProxy:        cfg.TrustProxy,
		UploadDir:         cfg.UploadDir,
		Templates:         sub("templates"),
		Static:            sub("static"),
		Metrics:           metrics,
	}, store, engine, logger)
	return engine, srv
}

func openStore(ctx context.Context, cfg config, logger *slog.Logger) (*models.Store, error) {
	store, err := models.Open(ctx, models.Config{DatabaseURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath}, logger)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("migrate the database: %w", err)
	}
	return store, nil
}
