// Command auctionbench measures an auction house deployment through its public contract only
// (PROTOCOL.md): the HTTP JSON API to set up users, sessions and auctions, and WebSockets to bid
// and to watch. It never touches the server's database or code, so it can measure any server
// that keeps the contract.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

const usageText = `usage: auctionbench -url http://127.0.0.1:3000 <scenario> [flags]

Scenarios (all over WebSockets, one auction or more, created for the run):
  hot     -bidders N bidders bid on one auction as fast as their replies come back
  many    the same spread over -auctions M auctions; bidder i uses A auctions (one
          connection each, round-robin, one bid outstanding per bidder),
          A = ceil(2M/N) so every auction has at least two bidders, or -auctions-per-bidder
  fanout  -watchers W watch one auction while two bidders take turns raising the price
          -rate R times a second; reports the delay until each watcher has each change
  idle    -conns C idle watchers; reports the server's resident memory per connection
          (needs -pid on the same machine, or GET /metrics with process_resident_memory_bytes)

The server must run with RATE_LIMITS=off: every user, session and connection of the run comes
from one address, and the per-address limits would refuse them (429 rate_limited).
The auctions end 10 minutes after the run, with soft close off; with -admin-user and
-admin-pass they are cancelled at the end.

Exit status: 0 all checks passed, 1 error, 2 usage, 3 a check failed.

Flags:
`

func main() {
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

func mainExit(args []string, stdout, stderr io.Writer) int {
	cfg, scenario, timeout, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "auctionbench: "+err.Error())
		return 2
	}
	if _, err := raiseFileLimit(); err != nil {
		fmt.Fprintln(stderr, "auctionbench: raise the open-file limit: "+err.Error())
	}
	cfg.Progress = stderr

	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-sigCtx.Done()
		stop() // a second ^C kills at once
	}()
	ctx, cancel := context.WithTimeout(sigCtx, timeout)
	defer cancel()

	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "auctionbench: "+err.Error())
			return 1
		}
		defer stopProfile()
	}
	res, err := run(ctx, cfg, scenario)
	if err != nil {
		switch {
		case sigCtx.Err() != nil:
			err = errors.New("interrupted")
		case errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("%w (hard timeout %s; see -timeout)", err, timeout)
		}
		fmt.Fprintln(stderr, "auctionbench: "+err.Error())
		return 1
	}
	if err := res.WriteTable(stdout); err != nil {
		fmt.Fprintln(stderr, "auctionbench: "+err.Error())
		return 1
	}
	if cfg.JSONPath != "" {
		if err := writeJSONFile(cfg.JSONPath, res); err != nil {
			fmt.Fprintln(stderr, "auctionbench: "+err.Error())
			return 1
		}
	}
	if !res.OK() {
		return 3
	}
	return 0
}

// parseArgs reads "[flags] scenario [flags]".
func parseArgs(args []string, stderr io.Writer) (Config, string, time.Duration, error) {
	var cfg Config
	var timeout time.Duration
	fs := flag.NewFlagSet("auctionbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:3000", "the server's base URL")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to bid (hot, many, fanout)")
	fs.DurationVar(&timeout, "timeout", 0, "hard limit on the whole run, setup included (default duration + 5m)")
	fs.StringVar(&cfg.JSONPath, "json", "", "also write the results as JSON to this `file`")
	fs.IntVar(&cfg.PID, "pid", 0, "the server's process id, to read its memory from /proc")
	fs.StringVar(&cfg.AdminUser, "admin-user", "", "admin account: cancel the run's auctions at the end")
	fs.StringVar(&cfg.AdminPass, "admin-pass", "", "password of -admin-user")
	fs.IntVar(&cfg.Bidders, "bidders", 200, "bidders (hot, many)")
	fs.Float64Var(&cfg.MaxFraction, "max-fraction", 0.2, "fraction of bidders that send a max_amount a few increments above amount (hot, many)")
	fs.IntVar(&cfg.Auctions, "auctions", 1000, "auctions (many)")
	fs.IntVar(&cfg.AuctionsPerBidder, "auctions-per-bidder", 0, "auctions each bidder uses, one connection each (many; 0: ceil(2*auctions/bidders))")
	fs.IntVar(&cfg.Watchers, "watchers", 10000, "watchers (fanout)")
	fs.Float64Var(&cfg.Rate, "rate", 20, "price changes per second (fanout)")
	fs.IntVar(&cfg.Conns, "conns", 10000, "idle connections (idle)")
	fs.DurationVar(&cfg.Settle, "settle", 5*time.Second, "how long idle connections are held before memory is read (idle)")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", 200, "connections opened at once")
	fs.StringVar(&cfg.WatcherIO, "watcher-io", watcherIOAuto, "how watchers are read (fanout, idle): epoll (an event loop per CPU over raw sockets; Linux, ws://), goroutine (one per watcher), or auto (epoll where it can run)")
	fs.StringVar(&cfg.BidderIO, "bidder-io", watcherIOAuto, "how bidders are read and driven (hot, many): epoll (event loops per CPU over raw sockets; Linux, ws://), goroutine (one per bidder and one per connection), or auto")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the bench's own CPU profile to this `file` (to see what the load tool itself costs)")

	if err := fs.Parse(args); err != nil {
		return cfg, "", 0, err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return cfg, "", 0, errors.New("name a scenario: hot, many, fanout or idle")
	}
	scenario := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return cfg, "", 0, err
	}
	if fs.NArg() > 0 {
		return cfg, "", 0, fmt.Errorf("unexpected argument %q after the scenario's flags", fs.Arg(0))
	}
	switch scenario {
	case "hot", "many", "fanout", "idle":
	default:
		return cfg, "", 0, fmt.Errorf("unknown scenario %q: use hot, many, fanout or idle", scenario)
	}
	if cfg.Duration <= 0 {
		return cfg, "", 0, errors.New("-duration must be positive")
	}
	if cfg.MaxFraction < 0 || cfg.MaxFraction > 1 {
		return cfg, "", 0, errors.New("-max-fraction must be between 0 and 1")
	}
	if (cfg.AdminUser == "") != (cfg.AdminPass == "") {
		return cfg, "", 0, errors.New("-admin-user and -admin-pass go together")
	}
	if _, err := normalizeBase(cfg.URL); err != nil {
		return cfg, "", 0, err
	}
	if timeout <= 0 {
		timeout = cfg.Duration + 5*time.Minute
	}
	return cfg, scenario, timeout, nil
}

// run runs one scenario: check the server answers, set up, measure, check, clean up.
func run(ctx context.Context, cfg Config, scenario string) (*Result, error) {
	b, err := newBench(cfg)
	if err != nil {
		return nil, err
	}
	progCtx, stopProg := context.WithCancel(ctx)
	defer stopProg()
	go b.prog.run(progCtx, b.cfg.ProgressEvery)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		b.cleanup(cctx)
	}()

	if err := b.api.health(ctx); err != nil {
		return nil, err
	}
	switch scenario {
	case "hot":
		return b.runBidding(ctx, "hot", 1)
	case "many":
		return b.runBidding(ctx, "many", b.cfg.Auctions)
	case "fanout":
		return b.runFanout(ctx)
	case "idle":
		return b.runIdle(ctx)
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

// startCPUProfile profiles this process into path until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
