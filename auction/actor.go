package auction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/models"
)

// cmdKind names what a command asks of an actor.
type cmdKind int

const (
	cmdGet cmdKind = iota
	cmdBid
	cmdBuy
	cmdClose
	cmdCancel
	cmdAdvance
	cmdSubscribe
	cmdUnsubscribe
	cmdPage
)

// readsOnly reports whether a command decides nothing of its own, so that after a failed
// commit it can still be answered with the stored state. (An advance is applied again from the
// stored state by the next command or timer.)
func (k cmdKind) readsOnly() bool { return k == cmdGet || k == cmdPage || k == cmdAdvance }

// command is one request to an actor. reply has room for one result, so the actor never blocks
// on a caller that went away.
type command struct {
	kind  cmdKind
	bid   BidRequest
	user  UserRef
	sub   *Subscription
	reply chan result
	// abandon, if set, receives an answer that came after the caller stopped waiting, so what
	// the command created (a subscription) is not leaked.
	abandon func(result)
}

// result is an actor's answer to one command. It carries the committed state, not its View:
// the caller renders that on its own goroutine, and only if it shows it, so the actor, which
// every bid of its auction waits for, spends no time on it.
type result struct {
	state   State
	at      time.Time
	recent  []BidView
	photos  []models.Photo
	bid     BidRecord
	leading bool
	sub     *Subscription
	err     error
}

// requestKey identifies a bid request for idempotency: request ids are unique per bidder and
// auction.
type requestKey struct {
	bidder int64
	id     string
}

// requestEntry is a request whose bid is decided but not yet committed, and who else is
// waiting for its answer.
type requestEntry struct {
	key     requestKey
	waiters []chan result
}

// storedRequests remembers which request ids the auction has stored, as 64-bit hashes in a map
// the garbage collector need not scan: under 30 bytes per bid. Keeping each key and its answer
// cost about 260 bytes per bid for as long as the actor lived (25 MB after the many
// benchmark's 170,000 bids). A repeated request finds its hash here and reads its answer from
// the database's unique index; a new one whose hash collides costs one lookup that finds
// nothing, and is then decided as new.
type storedRequests struct {
	seed   maphash.Seed
	hashes map[uint64]struct{}
}

func newStoredRequests(n int) storedRequests {
	return storedRequests{seed: maphash.MakeSeed(), hashes: make(map[uint64]struct{}, n)}
}

func (s storedRequests) add(k requestKey) { s.hashes[maphash.Comparable(s.seed, k)] = struct{}{} }
func (s storedRequests) mayHold(k requestKey) bool {
	_, ok := s.hashes[maphash.Comparable(s.seed, k)]
	return ok
}

// pendingReply is an answer that must wait for the commit of everything decided before it.
type pendingReply struct {
	reply    chan result
	kind     cmdKind
	bidIndex int // index into batch.bids, or -1
	decided  time.Time
	leading  bool
	err      error
	entry    *requestEntry
}

// batch is everything decided since the last commit started: the bids to insert, the answers
// to give once they are stored, and who lost the lead. The auction row written is the actor's
// state when the batch starts committing.
type batch struct {
	bids    []models.Bid
	names   []string // bidder names, beside bids, for the recent-bids list
	replies []pendingReply
	outbid  []UserRef
	state   State
	baseSeq int64
}

func (b *batch) empty() bool { return len(b.bids) == 0 && len(b.replies) == 0 && len(b.outbid) == 0 }

type commitResult struct {
	batch *batch
	err   error
	took  time.Duration
}

// actor owns one auction. Only its run goroutine touches the fields below mailbox; everything
// else talks to it through mailbox and learns of its end through done.
type actor struct {
	id      int64
	engine  *Engine
	mailbox chan command
	done    chan struct{}

	recent    []BidView // the newest committed bids, newest first, at most RecentBids
	photos    []models.Photo
	state     State                        // every decision so far, committed or not
	committed State                        // as stored in the database
	requests  map[requestKey]*requestEntry // decided, not yet committed
	stored    storedRequests
	subs      subSet
	// byUser indexes signed-in watchers, so an outbid notice finds its user's connections
	// without scanning every watcher.
	byUser     map[int64]map[*Subscription]struct{}
	pending    *batch
	inflight   *batch
	commitDone chan commitResult
	deadline   *time.Timer
	idle       *time.Timer
	retry      *time.Timer
	// retrying holds commits back until retry fires after a failed one. The timer alone
	// decides: a wall-clock deadline stalled the auction when the clock stepped back.
	retrying bool

	// watchersDue says a changed watcher count waits for watchersTimer or the next change.
	watchersDue   bool
	watchersTimer *time.Timer

	// watchers mirrors len(subs) for readers outside the actor, such as auction lists.
	watchers   atomic.Int64
	lastUpdate *Update
}

func newActor(e *Engine, id int64) *actor {
	return &actor{
		id:         id,
		engine:     e,
		mailbox:    make(chan command, e.opts.MailboxSize),
		done:       make(chan struct{}),
		requests:   make(map[requestKey]*requestEntry),
		stored:     newStoredRequests(0),
		subs:       newSubSet(),
		byUser:     make(map[int64]map[*Subscription]struct{}),
		pending:    &batch{},
		commitDone: make(chan commitResult, 1),
	}
}

// run is the actor's goroutine: load, then serve commands until idle or shutdown.
func (a *actor) run() {
	defer a.engine.wg.Done()
	defer close(a.done)
	if err := a.load(); err != nil {
		a.engine.forget(a)
		a.drain(err)
		return
	}
	a.deadline = time.NewTimer(time.Hour)
	a.idle = time.NewTimer(a.engine.opts.IdleTimeout)
	a.retry = time.NewTimer(time.Hour)
	a.retry.Stop()
	a.watchersTimer = time.NewTimer(time.Hour)
	a.watchersTimer.Stop()
	defer a.watchersTimer.Stop()
	defer a.deadline.Stop()
	defer a.idle.Stop()
	defer a.retry.Stop()
	a.setWatchers()
	a.advance()
	a.armDeadline()
	a.flush()
	for {
		// A full batch waiting for its commit stops intake: the mailbox fills and pushes back
		// on senders instead of one transaction growing without bound.
		mailbox := a.mailbox
		if a.batchFull() {
			mailbox = nil
		}
		select {
		case cmd := <-mailbox:
			a.handle(cmd)
			a.handleQueued()
		case res := <-a.commitDone:
			a.finishCommit(res)
		case <-a.deadline.C:
			a.advance()
			a.armDeadline()
		case <-a.retry.C:
			// flush below starts the commit that waited.
			a.retrying = false
		case <-a.watchersTimer.C:
			a.applyWatchers()
		case <-a.idle.C:
			if a.stopIfIdle() {
				return
			}
		case <-a.engine.stopping:
			a.shutdown()
			return
		}
		a.flush()
	}
}

// handleQueued decides every command already waiting, so they share one commit.
func (a *actor) handleQueued() {
	for !a.batchFull() {
		select {
		case cmd := <-a.mailbox:
			a.handle(cmd)
		default:
			return
		}
	}
}

func (a *actor) batchFull() bool { return len(a.pending.bids) >= a.engine.opts.MaxBatch }

// load reads the auction and its request log from the database.
func (a *actor) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.engine.opts.CommitTimeout)
	defer cancel()
	row, err := a.engine.store.AuctionByID(ctx, a.id)
	if errors.Is(err, models.ErrNotFound) {
		return Errorf(CodeNotFound, "auction %d not found", a.id)
	}
	if err != nil {
		return fmt.Errorf("load auction %d: %w", a.id, err)
	}
	keys, err := a.engine.store.RequestKeys(ctx, a.id)
	if err != nil {
		return fmt.Errorf("load request ids of auction %d: %w", a.id, err)
	}
	a.requests = make(map[requestKey]*requestEntry)
	a.stored = newStoredRequests(len(keys))
	for _, k := range keys {
		a.stored.add(requestKey{k.BidderID, k.RequestID})
	}
	recent, err := a.engine.store.BidsByAuction(ctx, a.id, RecentBids, 0)
	if err != nil {
		return fmt.Errorf("load recent bids of auction %d: %w", a.id, err)
	}
	a.recent = make([]BidView, len(recent))
	for i, b := range recent {
		a.recent[i] = bidView(b, b.Bidder.Username)
	}
	// The seller's form stores photos right after creating the auction, before it shows the
	// auction to anyone; they never change after that.
	if a.photos, err = a.engine.store.PhotosByAuction(ctx, a.id); err != nil {
		return fmt.Errorf("load photos of auction %d: %w", a.id, err)
	}
	// The stored watcher count is that of the stored seq. The live count may differ (after a
	// restart it is 0): setWatchers then makes that a change with a seq of its own, so no seq
	// is shown with two different counts.
	a.committed = stateFromRow(row)
	a.state = a.committed
	a.lastUpdate = nil
	return nil
}

// drain answers every queued command with err; used when the actor cannot serve.
func (a *actor) drain(err error) {
	for {
		select {
		case cmd := <-a.mailbox:
			cmd.reply <- result{err: err}
		default:
			return
		}
	}
}

func (a *actor) now() time.Time { return a.engine.opts.Now().UTC() }

// dirty reports whether decisions wait to be stored.
func (a *actor) dirty() bool { return a.state.Seq != a.committed.Seq }

// handle decides one command against the in-memory state.
func (a *actor) handle(cmd command) {
	a.idle.Reset(a.engine.opts.IdleTimeout)
	switch cmd.kind {
	case cmdGet, cmdPage:
		a.answerAfterCommit(pendingReply{reply: cmd.reply, kind: cmd.kind, bidIndex: -1})
	case cmdAdvance:
		a.advance()
		a.armDeadline()
		a.answerAfterCommit(pendingReply{reply: cmd.reply, kind: cmdAdvance, bidIndex: -1})
	case cmdBid:
		a.handleBid(cmd)
	case cmdBuy, cmdClose, cmdCancel:
		a.handleTransition(cmd)
	case cmdSubscribe:
		a.handleSubscribe(cmd)
	case cmdUnsubscribe:
		a.removeSubscription(cmd.sub)
		cmd.reply <- result{}
	}
}

// answerAfterCommit answers at once when nothing is waiting to be stored, else after the commit
// of everything decided so far: nobody is told of an acceptance, or shown a state, that could
// still be lost.
func (a *actor) answerAfterCommit(r pendingReply) {
	if !a.dirty() && a.inflight == nil {
		a.answer(r, nil)
		return
	}
	a.pending.replies = append(a.pending.replies, r)
}

func (a *actor) advance() {
	next, changed := Advance(a.state, a.now())
	if changed {
		a.state = next
	}
}

func (a *actor) handleBid(cmd command) {
	req := cmd.bid
	key := requestKey{req.Bidder.ID, req.RequestID}
	if req.RequestID != "" {
		if e, ok := a.requests[key]; ok {
			e.waiters = append(e.waiters, cmd.reply)
			return
		}
		if a.stored.mayHold(key) && a.answerStored(cmd, key) {
			return
		}
	}
	now := a.now()
	a.advance()
	next, outcome, err := PlaceBid(a.state, BidInput{Bidder: req.Bidder, Amount: req.Amount, MaxAmount: req.MaxAmount}, now)
	if err != nil {
		a.engine.opts.Metrics.BidDecided(ErrorCode(err))
		a.refuse(cmd, err)
		return
	}
	extended := !next.EndsAt.Equal(a.state.EndsAt)
	a.state = next
	createdAt := now.Truncate(time.Millisecond)
	stored := models.Bid{
		AuctionID: a.id,
		BidderID:  req.Bidder.ID,
		Amount:    req.Amount,
		MaxAmount: BidInput{Amount: req.Amount, MaxAmount: req.MaxAmount}.Max(),
		Leading:   outcome.Leading,
		Seq:       next.Seq,
		CreatedAt: createdAt,
	}
	var entry *requestEntry
	if req.RequestID != "" {
		id := req.RequestID
		stored.RequestID = &id
		entry = &requestEntry{key: key}
		a.requests[key] = entry
	}
	a.pending.bids = append(a.pending.bids, stored)
	a.pending.names = append(a.pending.names, req.Bidder.Name)
	a.pending.replies = append(a.pending.replies, pendingReply{
		reply: cmd.reply, kind: cmdBid, bidIndex: len(a.pending.bids) - 1, leading: outcome.Leading, entry: entry,
		decided: time.Now(),
	})
	a.engine.opts.Metrics.BidDecided("")
	if !outcome.Outbid.IsZero() {
		a.pending.outbid = append(a.pending.outbid, outcome.Outbid)
	}
	if extended {
		a.armDeadline()
	}
}

// answerStored answers a repeated request with its stored bid and reports true, or reports
// false when nothing is stored under that key (a hash collision), so that it is decided as new.
// The lookup blocks the actor for one indexed read; only repeats and collisions pay it.
func (a *actor) answerStored(cmd command, key requestKey) bool {
	ctx, cancel := context.WithTimeout(context.Background(), a.engine.opts.CommitTimeout)
	defer cancel()
	b, err := a.engine.store.BidByRequest(ctx, a.id, models.RequestKey{BidderID: key.bidder, RequestID: key.id})
	if errors.Is(err, models.ErrNotFound) {
		return false
	}
	if err != nil {
		a.engine.log.Error("read a repeated request's bid", "auction", a.id, "err", err)
		cmd.reply <- result{err: fmt.Errorf("%w (auction %d)", ErrUnavailable, a.id)}
		return true
	}
	cmd.reply <- result{state: a.committed, at: a.now(), bid: BidRecord{ID: b.ID, Amount: b.Amount, CreatedAt: b.CreatedAt.UTC()}, leading: b.Leading}
	return true
}

func (a *actor) handleTransition(cmd command) {
	now := a.now()
	a.advance()
	var next State
	var err error
	switch cmd.kind {
	case cmdBuy:
		next, err = BuyNow(a.state, cmd.user, now)
	case cmdClose:
		next, err = CloseEarly(a.state, now)
	case cmdCancel:
		next, err = Cancel(a.state, now)
	}
	if err != nil {
		a.refuse(cmd, err)
		return
	}
	a.state = next
	a.armDeadline()
	a.answerAfterCommit(pendingReply{reply: cmd.reply, kind: cmd.kind, bidIndex: -1})
}

// refuse answers a refused command at once. A refusal acknowledges nothing: the bid is not
// placed whether or not the decisions it was judged against get stored, and the clock alone
// decides the end. Making refusals wait for the commit in flight would double the latency of
// most bids in a busy auction for no durability at all; acceptances and reads still wait.
func (a *actor) refuse(cmd command, err error) {
	cmd.reply <- result{err: err}
}

func (a *actor) handleSubscribe(cmd command) {
	// The snapshot counts the new watcher already: a person should see themselves counted.
	shown := a.committed
	shown.Watchers = a.subs.len() + 1
	snapshot := newUpdate(&shown, a.now())
	sub := newSubscription(a.id, cmd.user.ID, snapshot)
	sub.unsubscribe = func() { a.engine.unsubscribe(a, sub) }
	sub.dropped = a.engine.opts.Metrics.WatcherDropped
	a.subs.add(sub)
	if sub.userID != 0 {
		if a.byUser[sub.userID] == nil {
			a.byUser[sub.userID] = make(map[*Subscription]struct{})
		}
		a.byUser[sub.userID][sub] = struct{}{}
	}
	a.setWatchers()
	cmd.reply <- result{sub: sub}
}

func (a *actor) removeSubscription(sub *Subscription) {
	if !a.subs.has(sub) {
		return
	}
	a.subs.remove(sub)
	if mine := a.byUser[sub.userID]; mine != nil {
		delete(mine, sub)
		if len(mine) == 0 {
			delete(a.byUser, sub.userID)
		}
	}
	a.setWatchers()
}

// setWatchers notes that the watcher count changed. The count is public state, but a crowd
// arriving must not cost a stored, broadcast state per person (that is N² messages for N
// watchers): the new count rides along with the next real change, or is applied on its own
// after WatchersDelay.
func (a *actor) setWatchers() {
	a.watchers.Store(int64(a.subs.len()))
	if a.state.Watchers == a.subs.len() || a.watchersDue {
		return
	}
	a.watchersDue = true
	a.watchersTimer.Reset(a.engine.opts.WatchersDelay)
}

// applyWatchers makes the current watcher count a state change of its own.
func (a *actor) applyWatchers() {
	a.watchersDue = false
	if a.state.Watchers != a.subs.len() {
		a.state.Watchers = a.subs.len()
		a.state.Seq++
	}
}

// includeWatchers puts the current watcher count into a state that changes anyway.
func (a *actor) includeWatchers() {
	a.state.Watchers = a.subs.len()
	if a.watchersDue {
		a.watchersDue = false
		a.watchersTimer.Stop()
	}
}

// flush starts a commit when one is due and none is in flight, or answers waiting replies that
// need no commit.
func (a *actor) flush() {
	if a.inflight != nil {
		return
	}
	if a.dirty() {
		if a.retrying {
			return
		}
		a.startCommit()
		return
	}
	if len(a.pending.replies) > 0 {
		b := a.pending
		a.pending = &batch{}
		for _, r := range b.replies {
			a.answer(r, nil)
		}
	}
}

// startCommit hands the pending batch to the committers, which store it conditional on the row
// still holding the last committed seq. Only one batch per actor is in flight, so commitDone,
// with room for one result, never blocks a committer.
func (a *actor) startCommit() {
	a.includeWatchers()
	b := a.pending
	a.pending = &batch{}
	b.state = a.state
	b.baseSeq = a.committed.Seq
	a.inflight = b
	row := rowFromState(&b.state, a.now())
	a.engine.commits <- commitJob{
		commit: models.Commit{Auction: row, ExpectedSeq: b.baseSeq, Bids: b.bids},
		batch:  b,
		done:   a.commitDone,
	}
}

// finishCommit answers and broadcasts a stored batch, or undoes a failed one.
func (a *actor) finishCommit(res commitResult) {
	a.inflight = nil
	b := res.batch
	if res.err != nil {
		a.commitFailed(b, res.err)
		return
	}
	a.committed = b.state
	a.rememberBids(b)
	a.observeCommit(b, res.took)
	a.broadcast()
	for _, r := range b.replies {
		a.answer(r, b)
	}
	a.notifyOutbid(b.outbid)
}

// rememberBids keeps the newest committed bids, so the auction page needs no query for them.
func (a *actor) rememberBids(b *batch) {
	k := min(len(b.bids), RecentBids)
	if k == 0 {
		return
	}
	// In place, newest first: keep the newest RecentBids-k of the old list, moved down by k,
	// and put the batch's newest k before them. Pages get a copy (Engine.Page), so nothing
	// outside the actor shares this array, and a commit allocates nothing here.
	keep := min(len(a.recent), RecentBids-k)
	if cap(a.recent) < RecentBids {
		a.recent = slices.Grow(a.recent, RecentBids-len(a.recent))
	}
	a.recent = a.recent[:keep+k]
	copy(a.recent[k:], a.recent[:keep])
	for i := range k {
		j := len(b.bids) - 1 - i
		a.recent[i] = bidView(b.bids[j], b.names[j])
	}
}

func (a *actor) observeCommit(b *batch, took time.Duration) {
	m := a.engine.opts.Metrics
	m.BatchCommitted(len(b.bids), took)
	now := time.Now()
	for _, r := range b.replies {
		if r.bidIndex >= 0 {
			m.BidCommitted(now.Sub(r.decided))
		}
	}
}

// commitFailed returns to the stored state (reloading it when another writer moved the row)
// and answers everything decided on top of the lost batch with a retryable error. Decisions are
// not repeated: the client may have given up, and its request id makes a retry safe. Reads
// decided nothing and get the stored state.
func (a *actor) commitFailed(b *batch, err error) {
	a.engine.log.Error("commit failed", "auction", a.id, "bids", len(b.bids), "err", err)
	lost := append(b.replies, a.pending.replies...)
	a.pending = &batch{}
	for _, r := range lost {
		if r.entry != nil {
			delete(a.requests, r.entry.key)
		}
	}
	if errors.Is(err, models.ErrConflict) {
		if lerr := a.load(); lerr != nil {
			a.engine.log.Error("reload after conflict failed", "auction", a.id, "err", lerr)
		}
		a.broadcast()
	}
	a.state = a.committed
	for _, r := range lost {
		if !r.kind.readsOnly() {
			// Its decision was made on a state that was never stored. (Refusals are not
			// here: they are answered at once, from the state as decided then.)
			r.err = fmt.Errorf("%w (auction %d)", ErrUnavailable, a.id)
		}
		a.answer(r, nil)
	}
	a.setWatchers()
	a.armDeadline()
	// Hold further commits back for a moment so a database outage is not hammered in a loop.
	a.retrying = true
	a.retry.Reset(a.engine.opts.RetryDelay)
}

// answer sends a reply with the committed state; b is the committed batch it belongs to, if any.
func (a *actor) answer(r pendingReply, b *batch) {
	if r.err != nil {
		r.reply <- result{err: r.err}
		if r.entry != nil {
			for _, w := range r.entry.waiters {
				w <- result{err: r.err}
			}
		}
		return
	}
	res := result{state: a.committed, at: a.now(), leading: r.leading}
	if r.kind == cmdPage {
		res.recent, res.photos = slices.Clone(a.recent), a.photos
	}
	if r.bidIndex >= 0 && b != nil {
		stored := b.bids[r.bidIndex]
		res.bid = BidRecord{ID: stored.ID, Amount: stored.Amount, CreatedAt: stored.CreatedAt}
	}
	if r.entry != nil {
		delete(a.requests, r.entry.key)
		a.stored.add(r.entry.key)
		for _, w := range r.entry.waiters {
			w <- res
		}
		r.entry.waiters = nil
	}
	r.reply <- res
}

// currentUpdate is the committed state encoded once for every watcher of this seq.
func (a *actor) currentUpdate() *Update {
	if a.lastUpdate != nil && a.lastUpdate.Seq == a.committed.Seq {
		return a.lastUpdate
	}
	u := newUpdate(&a.committed, a.now())
	a.lastUpdate = u
	return u
}

// broadcast publishes the committed state to every watcher without waiting for any.
func (a *actor) broadcast() {
	if a.subs.len() == 0 {
		return
	}
	u := a.currentUpdate()
	for _, s := range a.subs.all() {
		s.publish(u)
	}
}

// outbidMessage is PROTOCOL.md §6's notice to the bidder who lost the lead.
type outbidMessage struct {
	Type         string `json:"type"`
	AuctionID    int64  `json:"auction_id"`
	CurrentPrice string `json:"current_price"`
}

// encodeOutbid is the outbid notice for auction id at price.
func encodeOutbid(id int64, price decimal.Decimal) []byte {
	msg, err := json.Marshal(outbidMessage{Type: "outbid", AuctionID: id, CurrentPrice: FormatAmount(price)})
	if err != nil {
		panic(fmt.Sprintf("encoding an outbid notice cannot fail: %v", err))
	}
	return msg
}

func (a *actor) notifyOutbid(users []UserRef) {
	if len(users) == 0 || len(a.byUser) == 0 {
		return
	}
	msg := encodeOutbid(a.id, a.committed.CurrentPrice.Decimal)
	told := make(map[int64]bool, len(users))
	for _, u := range users {
		if told[u.ID] || u.ID == a.committed.Leader.ID {
			continue
		}
		told[u.ID] = true
		for s := range a.byUser[u.ID] {
			s.send(msg)
		}
	}
}

// armDeadline sets the timer to the next moment the clock alone changes the auction.
func (a *actor) armDeadline() {
	at, ok := a.state.NextDeadline()
	if !ok {
		a.deadline.Stop()
		return
	}
	a.deadline.Reset(max(at.Sub(a.now()), 0))
}

// stopIfIdle ends the actor when nobody watches and nothing is waiting. The registry lock makes
// the check and the removal one step for senders that look the actor up; a command that slipped
// into the mailbox after the check is retried by its sender on a fresh actor.
func (a *actor) stopIfIdle() bool {
	if a.subs.len() > 0 || a.inflight != nil || a.dirty() || !a.pending.empty() || a.watchersDue {
		a.idle.Reset(a.engine.opts.IdleTimeout)
		return false
	}
	return a.engine.removeIfIdle(a)
}

// shutdown stores everything already accepted, answers everyone, and ends every subscription.
// Commands still in the mailbox were never accepted: they are refused as unavailable.
func (a *actor) shutdown() {
	if a.inflight != nil {
		a.finishCommit(<-a.commitDone)
	}
	if a.dirty() {
		a.startCommit()
		a.finishCommit(<-a.commitDone)
	}
	a.inflight = nil
	b := a.pending
	a.pending = &batch{}
	for _, r := range b.replies {
		a.answer(r, nil)
	}
	for _, s := range a.subs.all() {
		s.end(ErrShutdown)
	}
	a.engine.forget(a)
	a.drain(ErrUnavailable)
}
