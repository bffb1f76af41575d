package auction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"auctionhouse/models"
)

// Options tune the engine. Zero values take the defaults in withDefaults.
type Options struct {
	// IdleTimeout is how long an actor with no watchers and no commands lives on.
	IdleTimeout time.Duration
	// SweepInterval is how often auctions without a running actor are checked for their start
	// or end; actors that run keep their own timers.
	SweepInterval time.Duration
	// MaxBatch bounds the commands decided between two commits, and so one transaction's size.
	MaxBatch int
	// MailboxSize is each actor's command queue. A full queue makes callers wait to send,
	// which costs nothing more than waiting for the answer; the buffer itself is allocated
	// whole with each actor, so it is kept small (DefaultMailboxSize).
	MailboxSize int
	// CommitTimeout bounds one database transaction.
	CommitTimeout time.Duration
	// RetryDelay is the pause after a failed commit before the next attempt.
	RetryDelay time.Duration
	// Now is the server clock; tests replace it.
	Now func() time.Time
	// Logger receives the engine's logs.
	Logger *slog.Logger
	// Metrics receives measurements; nil measures nothing.
	Metrics Metrics
	// WatchersDelay is the longest a changed watcher count waits for another change to ride
	// along with before it becomes a state change of its own.
	WatchersDelay time.Duration
	// Committers is how many database commits may be in flight at once, each carrying the
	// batches of every auction that was waiting (DefaultCommitters).
	Committers int
}

// DefaultMailboxSize is an actor's command queue unless Options say otherwise. At 1,024 commands
// of about 100 bytes, each actor held 108 KiB from its start: 109 MB for the 1,000 auctions of
// the many benchmark (BENCHMARKS.md), a gigabyte for 10,000 auctions with watchers.
const DefaultMailboxSize = 64

// DefaultCommitters is how many commits may be in flight unless Options say otherwise. Two: one
// can wait for its fsync while the next gathers and writes. More only split the waiting
// batches into smaller commits, and PostgreSQL's CPU per bid grows as a commit shrinks (about
// 50 µs at 10 bids, 19 µs at 200): with four, the many benchmark made commits of about ten
// bids and ran 8-10 % slower (BENCHMARKS.md).
const DefaultCommitters = 2

func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.MailboxSize <= 0 {
		o.MailboxSize = DefaultMailboxSize
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 10 * time.Second
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 500 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Committers <= 0 {
		o.Committers = DefaultCommitters
	}
	if o.WatchersDelay <= 0 {
		o.WatchersDelay = time.Second
	}
	return o
}

// Engine is the registry of auction actors and the entry point for every command. Each auction
// has at most one actor, started on demand from the database and stopped when idle.
type Engine struct {
	store *models.Store
	opts  Options
	log   *slog.Logger

	mu       sync.RWMutex
	actors   map[int64]*actor
	stopping chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // actors and the sweeper

	commits            chan commitJob
	stopCommitters     chan struct{}
	stopCommittersOnce sync.Once
	committers         sync.WaitGroup
}

// New returns an engine on store, with its committers running. Call Start before serving and
// Shutdown to stop.
func New(store *models.Store, opts Options) *Engine {
	opts = opts.withDefaults()
	e := &Engine{
		store:          store,
		opts:           opts,
		log:            opts.Logger,
		actors:         make(map[int64]*actor),
		stopping:       make(chan struct{}),
		commits:        make(chan commitJob, maxAuctionsPerCommit),
		stopCommitters: make(chan struct{}),
	}
	e.committers.Add(opts.Committers)
	for range opts.Committers {
		go e.runCommitter()
	}
	return e
}

// Start closes every auction whose end passed while the server was down (and opens those whose
// start passed), then keeps doing so in the background for auctions without a running actor.
func (e *Engine) Start(ctx context.Context) error {
	if err := e.sweep(ctx); err != nil {
		return fmt.Errorf("close auctions that ended while down: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.stopping:
		return ErrUnavailable
	default:
	}
	e.wg.Add(1)
	go e.sweepLoop()
	return nil
}

// Shutdown stops accepting commands, lets every actor store and answer what it accepted, ends
// every subscription, and waits for all of it or for ctx.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.stopOnce.Do(func() {
		e.mu.Lock()
		close(e.stopping)
		e.mu.Unlock()
	})
	done := make(chan struct{})
	go func() {
		// Actors commit what they accepted as they stop, so committers outlive them.
		e.wg.Wait()
		e.stopCommittersOnce.Do(func() { close(e.stopCommitters) })
		e.committers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine shutdown: %w", ctx.Err())
	}
}

// ActiveActors counts the running actors.
func (e *Engine) ActiveActors() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.actors)
}

func (e *Engine) sweepLoop() {
	defer e.wg.Done()
	ticker := time.NewTicker(e.opts.SweepInterval)
	defer ticker.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-e.stopping
		cancel()
	}()
	for {
		select {
		case <-e.stopping:
			return
		case <-ticker.C:
			if err := e.sweep(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("sweep for due auctions failed", "err", err)
			}
		}
	}
}

// sweep asks the actor of every due auction to apply the clock; a few at a time, so a backlog
// after downtime does not open a connection per auction. One auction that fails is logged and
// tried again at the next sweep; it does not hold up the others or the server's start.
func (e *Engine) sweep(ctx context.Context) error {
	ids, err := e.store.DueAuctionIDs(ctx, e.opts.Now().UTC())
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error {
			_, err := e.call(ctx, id, command{kind: cmdAdvance})
			if err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
				e.log.Error("closing or opening a due auction failed", "auction", id, "err", err)
			}
			return nil
		})
	}
	return g.Wait()
}

// actorFor finds the auction's actor or starts one.
func (e *Engine) actorFor(id int64) (*actor, error) {
	e.mu.RLock()
	a, ok := e.actors[id]
	e.mu.RUnlock()
	if ok {
		return a, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.stopping:
		return nil, ErrUnavailable
	default:
	}
	if a, ok := e.actors[id]; ok {
		return a, nil
	}
	a = newActor(e, id)
	e.actors[id] = a
	e.wg.Add(1)
	go a.run()
	return a, nil
}

// removeIfIdle takes a out of the registry if no command waits in its mailbox. Holding the lock
// means no new sender can find a while we decide.
func (e *Engine) removeIfIdle(a *actor) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(a.mailbox) > 0 {
		return false
	}
	if e.actors[a.id] == a {
		delete(e.actors, a.id)
	}
	return true
}

// forget takes a out of the registry unconditionally.
func (e *Engine) forget(a *actor) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.actors[a.id] == a {
		delete(e.actors, a.id)
	}
}

// maxAttempts bounds how often a command is re-sent to a fresh actor because the one it found
// stopped before reading it.
const maxAttempts = 5

// call sends cmd to the auction's actor and waits for the answer, the caller's ctx, or the
// actor's end. Every send also watches the actor and the engine, so nothing blocks after
// shutdown.
func (e *Engine) call(ctx context.Context, id int64, cmd command) (result, error) {
	cmd.reply = make(chan result, 1)
	for range maxAttempts {
		a, err := e.actorFor(id)
		if err != nil {
			return result{}, err
		}
		select {
		case a.mailbox <- cmd:
		case <-a.done:
			continue
		case <-e.stopping:
			return result{}, ErrUnavailable
		case <-ctx.Done():
			return result{}, ctx.Err()
		}
		select {
		case r := <-cmd.reply:
			return r, r.err
		case <-a.done:
			// The actor ended; if it answered first, take that answer, else it never read
			// the command and a fresh actor may.
			select {
			case r := <-cmd.reply:
				return r, r.err
			default:
			}
		case <-ctx.Done():
			if cmd.abandon != nil {
				go awaitAbandoned(a, cmd.reply, cmd.abandon)
			}
			return result{}, ctx.Err()
		}
	}
	return result{}, ErrUnavailable
}

// awaitAbandoned hands a late answer to the clean-up of a caller that stopped waiting.
func awaitAbandoned(a *actor, reply chan result, abandon func(result)) {
	select {
	case r := <-reply:
		abandon(r)
	case <-a.done:
	}
}

func (e *Engine) unsubscribe(a *actor, sub *Subscription) {
	cmd := command{kind: cmdUnsubscribe, sub: sub, reply: make(chan result, 1)}
	select {
	case a.mailbox <- cmd:
	case <-a.done:
	case <-e.stopping:
	}
}

// BidRequest is one bid as a client sent it.
type BidRequest struct {
	Bidder    UserRef
	Amount    decimal.Decimal
	MaxAmount decimal.Decimal // zero: same as Amount
	RequestID string          // optional; at most 64 characters
}

// BidRecord is an accepted, stored bid.
type BidRecord struct {
	ID        int64
	Amount    decimal.Decimal
	CreatedAt time.Time
}

// BidResult answers an accepted bid: the stored bid, whether the bidder leads, and the auction
// state after the commit that stored it.
type BidResult struct {
	Bid     BidRecord
	Leading bool
	state   State
	at      time.Time
}

// Auction is the auction's state after the commit that stored the bid, as the API shows it.
// It is rendered on each call: WebSocket bidders, who get the state as its own message, never
// pay for it.
func (r BidResult) Auction() View { return NewView(&r.state, r.at) }

// Seq is the seq of the state the answer was taken from. That state already includes the
// bid, so a watcher holding a state of this seq or higher has seen the bid's effect.
func (r BidResult) Seq() int64 { return r.state.Seq }

// maxRequestIDLen is the longest request id the contract allows.
const maxRequestIDLen = 64

// Bid places a bid and answers once it is stored. Repeating a request id answers as the first
// time and places nothing new.
func (e *Engine) Bid(ctx context.Context, auctionID int64, req BidRequest) (BidResult, error) {
	if utf8.RuneCountInString(req.RequestID) > maxRequestIDLen {
		return BidResult{}, Errorf(CodeInvalidRequest, "request_id is longer than %d characters", maxRequestIDLen)
	}
	// PostgreSQL's text cannot hold NUL: such an id would fail the commit of every bid that
	// shares it, other bidders' too.
	if !isStorableText(req.RequestID) {
		return BidResult{}, Errorf(CodeInvalidRequest, "request_id must be valid UTF-8 without NUL characters")
	}
	if req.Bidder.IsZero() {
		return BidResult{}, ErrUnauthenticated
	}
	r, err := e.call(ctx, auctionID, command{kind: cmdBid, bid: req})
	if err != nil {
		return BidResult{}, err
	}
	return BidResult{Bid: r.bid, Leading: r.leading, state: r.state, at: r.at}, nil
}

// Get returns the auction's public state from its actor's memory.
func (e *Engine) Get(ctx context.Context, auctionID int64) (View, error) {
	return e.callForView(ctx, auctionID, command{kind: cmdGet})
}

// Buy buys the auction at its buy-now price.
func (e *Engine) Buy(ctx context.Context, auctionID int64, buyer UserRef) (View, error) {
	if buyer.IsZero() {
		return View{}, ErrUnauthenticated
	}
	return e.callForView(ctx, auctionID, command{kind: cmdBuy, user: buyer})
}

// Close closes the auction now, as an admin; the winner is decided as at the end.
func (e *Engine) Close(ctx context.Context, auctionID int64) (View, error) {
	return e.callForView(ctx, auctionID, command{kind: cmdClose})
}

// Cancel cancels the auction, as an admin; nobody wins.
func (e *Engine) Cancel(ctx context.Context, auctionID int64) (View, error) {
	return e.callForView(ctx, auctionID, command{kind: cmdCancel})
}

// callForView runs cmd and renders the state it answers with, on the caller's goroutine.
func (e *Engine) callForView(ctx context.Context, auctionID int64, cmd command) (View, error) {
	r, err := e.call(ctx, auctionID, cmd)
	if err != nil {
		return View{}, err
	}
	return NewView(&r.state, r.at), nil
}

// Subscribe starts watching the auction. userID (0 for anonymous watchers) receives the outbid
// notices meant for that user. The caller must Close the subscription.
func (e *Engine) Subscribe(ctx context.Context, auctionID, userID int64) (*Subscription, error) {
	closeLate := func(r result) {
		if r.sub != nil {
			r.sub.Close()
		}
	}
	r, err := e.call(ctx, auctionID, command{kind: cmdSubscribe, user: UserRef{ID: userID}, abandon: closeLate})
	if err != nil {
		return nil, err
	}
	return r.sub, nil
}
