package auction

import (
	"errors"
	"sync"
	"sync/atomic"
)

// directQueueSize bounds the messages meant for one watcher alone (outbid notices). A watcher
// that lets it fill cannot keep up and is dropped rather than waited for.
const directQueueSize = 16

// Why a subscription ended.
var (
	// ErrSlowConsumer ends a subscription whose own queue overflowed.
	ErrSlowConsumer = errors.New("watcher too slow for its own messages")
	// ErrShutdown ends every subscription when the engine stops.
	ErrShutdown = errors.New("server shutting down")
	// ErrUnsubscribed ends a subscription its owner closed.
	ErrUnsubscribed = errors.New("unsubscribed")
)

// Subscription carries an auction's newest state to one watcher. The actor never blocks on it:
// states go into a one-slot box that is overwritten (conflation), with a one-slot signal beside
// it; messages for this watcher alone go into a small queue whose overflow ends the subscription.
// One goroutine of the owner reads it and writes to the network.
type Subscription struct {
	auctionID int64
	userID    int64
	snapshot  atomic.Pointer[Update]
	latest    atomic.Pointer[Update]
	notify    chan struct{}
	direct    chan []byte

	endOnce sync.Once
	done    chan struct{}
	err     error

	unsubscribe func()
	// dropped is told when the subscription ends for being too slow.
	dropped func()
	// wake, when set, is called after Notify, Direct or Done became ready (see SetWake).
	wake atomic.Pointer[func()]
}

func newSubscription(auctionID, userID int64, snapshot *Update) *Subscription {
	s := &Subscription{
		auctionID: auctionID,
		userID:    userID,
		notify:    make(chan struct{}, 1),
		direct:    make(chan []byte, directQueueSize),
		done:      make(chan struct{}),
	}
	s.snapshot.Store(snapshot)
	s.latest.Store(snapshot)
	return s
}

// AuctionID is the auction watched.
func (s *Subscription) AuctionID() int64 { return s.auctionID }

// Snapshot is the state when the subscription began: the first thing to send. It is handed out
// once, and nil after that: a watcher that stays for hours must not keep it (10,000 idle
// watchers held 10 MB of snapshots, BENCHMARKS.md).
func (s *Subscription) Snapshot() *Update { return s.snapshot.Swap(nil) }

// Notify signals that Latest may hold a newer state. Several changes may share one signal.
func (s *Subscription) Notify() <-chan struct{} { return s.notify }

// Latest is the newest state published to this watcher.
func (s *Subscription) Latest() *Update { return s.latest.Load() }

// MaxDirectMessage bounds the length of a message on Direct, so that a writer that must not
// wait for its client can know one fits before it takes it. Only outbid notices go there, and
// the longest (the largest id and amount) is under 90 bytes; a test keeps it within the bound.
const MaxDirectMessage = 256

// Direct carries encoded messages for this watcher alone, such as outbid notices.
func (s *Subscription) Direct() <-chan []byte { return s.direct }

// Done is closed when the subscription ends; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// SetWake has f called, without blocking, every time after Notify, Direct or Done became
// ready. It lets an owner keep no goroutine waiting on an idle subscription: f starts one when
// there is something to do. f runs on the actor's goroutine, so it must be quick and must not
// block or call back into the engine.
func (s *Subscription) SetWake(f func()) { s.wake.Store(&f) }

func (s *Subscription) wakeOwner() {
	if f := s.wake.Load(); f != nil {
		(*f)()
	}
}

// Err is why the subscription ended, or nil while it lasts.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the subscription and tells the actor, which then counts one watcher fewer. It never
// blocks for long: the actor is told through its mailbox with the engine's context.
func (s *Subscription) Close() {
	s.end(ErrUnsubscribed)
	if s.unsubscribe != nil {
		s.unsubscribe()
	}
}

// publish stores u if it is newer than what the watcher has and signals, without blocking.
func (s *Subscription) publish(u *Update) {
	for {
		old := s.latest.Load()
		if old != nil && old.Seq >= u.Seq {
			return
		}
		if s.latest.CompareAndSwap(old, u) {
			break
		}
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	s.wakeOwner()
}

// send queues a message for this watcher alone; a full queue ends the subscription.
func (s *Subscription) send(msg []byte) {
	select {
	case <-s.done:
	case s.direct <- msg:
		s.wakeOwner()
	default:
		if s.end(ErrSlowConsumer) && s.dropped != nil {
			s.dropped()
		}
	}
}

// end ends the subscription with err; it reports whether this call was the one that ended it.
func (s *Subscription) end(err error) (ended bool) {
	s.endOnce.Do(func() {
		s.err = err
		close(s.done)
		ended = true
	})
	if ended {
		s.wakeOwner()
	}
	return ended
}
