package handlers

import (
	"sync/atomic"
	"time"
)

// wsDeadlineRefresh is how old a deadline may grow before a frame sets it again. Setting a
// socket's deadline moves a runtime timer, and doing it for every frame cost 5 % of the
// server's CPU in the fanout scenario (BENCHMARKS.md). So a deadline is set this much later
// than the wait it stands for, and set again only once less than that wait is left: a write
// still has at least wsWriteWait to finish, and a silent client at least wsPongWait to say
// something (PROTOCOL.md §6), each at most wsDeadlineRefresh more.
const wsDeadlineRefresh = time.Second

// writeDeadline remembers the write deadline a connection's data frames last set on the socket,
// so that the next frame sets it only when it has grown old (due).
//
// The socket has one write deadline, and the library's close frames (ours, and its answer to a
// client's, on the reader's goroutine) set it too. Whoever writes one calls controlWrote after
// it; the next data frame then sets its own deadline again, rather than trust one that a close
// frame set. Pings and pongs go out with the data frames (appendControl) and leave it alone.
type writeDeadline struct {
	// at is the deadline the last data frame set. Only the holder of the writer's role uses it.
	at time.Time
	// stale is set by controlWrote, on any goroutine, and taken by due.
	stale atomic.Bool
}

// due reports whether a data frame written at now must set the deadline, and if so records
// the deadline (at) that the caller then sets. Only the holder of the writer's role calls it.
func (d *writeDeadline) due(now time.Time) bool {
	// Take the flag first: a control frame written after this point leaves it set for the
	// next frame, whatever this one does.
	stale := d.stale.Swap(false)
	if !stale && d.at.Sub(now) >= wsWriteWait {
		return false
	}
	d.at = now.Add(wsWriteWait + wsDeadlineRefresh)
	return true
}

// controlWrote records that a control frame has just set the socket's write deadline. It must
// be called after that frame's write, not before: called before, a data frame in between
// could take the flag and leave the control frame's shorter deadline in place for good.
func (d *writeDeadline) controlWrote() { d.stale.Store(true) }

// readDeadline remembers when the reader last extended its read deadline, for the same reason:
// the reader extends it on every message and every pong, but only every wsDeadlineRefresh is
// it worth a timer update. Only the holder of wsConn.deadlineMu uses it.
type readDeadline struct {
	extendedAt time.Time
}

// due reports whether the read deadline must be extended at now, and if so records that it is,
// to now plus wsPongWait plus wsDeadlineRefresh.
func (d *readDeadline) due(now time.Time) bool {
	if !d.extendedAt.IsZero() && now.Sub(d.extendedAt) < wsDeadlineRefresh {
		return false
	}
	d.extendedAt = now
	return true
}
