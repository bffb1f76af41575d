package handlers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pacedWriters are fake writers: each wake is counted as runnable until a consumer "runs" it
// and gives the room back, as a WebSocket writer does.
type pacedWriters struct {
	p        *statePacer
	entries  []*paceEntry
	wakes    []atomic.Int64
	runnable atomic.Int64
	maxSeen  atomic.Int64
	woken    chan int
}

func newPacedWriters(n int) *pacedWriters {
	pw := &pacedWriters{p: newStatePacer(), entries: make([]*paceEntry, n), wakes: make([]atomic.Int64, n), woken: make(chan int, n)}
	for i := range pw.entries {
		pw.entries[i] = &paceEntry{wake: func() {
			pw.wakes[i].Add(1)
			r := pw.runnable.Add(1)
			for m := pw.maxSeen.Load(); r > m && !pw.maxSeen.CompareAndSwap(m, r); m = pw.maxSeen.Load() {
			}
			pw.woken <- i
		}}
	}
	return pw
}

// run plays the writers: it takes the wakes one by one and gives each room back.
func (pw *pacedWriters) run(n int, each func()) {
	for range n {
		<-pw.woken
		each()
		pw.runnable.Add(-1)
		pw.p.ran()
	}
}

func TestStatePacer(t *testing.T) {
	t.Run("wakes every queued writer once, never more than the limit at a time", func(t *testing.T) {
		const n = 20 * stateWakeLimit
		pw := newPacedWriters(n)
		for _, e := range pw.entries {
			pw.p.enqueue(e)
			pw.p.enqueue(e) // a second state before its turn: still one wake
		}
		pw.run(n, func() { time.Sleep(10 * time.Microsecond) })
		if m := pw.maxSeen.Load(); m > stateWakeLimit {
			t.Fatalf("%d writers were woken and not yet run at once; the limit is %d", m, stateWakeLimit)
		}
		for i := range pw.wakes {
			if got := pw.wakes[i].Load(); got != 1 {
				t.Fatalf("writer %d woken %d times, want 1", i, got)
			}
		}
		select {
		case i := <-pw.woken:
			t.Fatalf("writer %d woken again with nothing queued", i)
		case <-time.After(20 * time.Millisecond):
		}
	})

	t.Run("a writer queued again after its wake is woken again", func(t *testing.T) {
		pw := newPacedWriters(1)
		e := pw.entries[0]
		for round := 1; round <= 3; round++ {
			pw.p.enqueue(e)
			pw.run(1, func() {})
			if got := pw.wakes[0].Load(); got != int64(round) {
				t.Fatalf("round %d: %d wakes", round, got)
			}
		}
	})

	t.Run("writers that never give room back do not stop the broadcast", func(t *testing.T) {
		const n = stateWakeLimit + 3
		pw := newPacedWriters(n)
		for _, e := range pw.entries {
			pw.p.enqueue(e)
		}
		deadline := time.After(10 * stateWakeStall * 3)
		for range n {
			select {
			case <-pw.woken: // taken, room never given back
			case <-deadline:
				t.Fatalf("only %d of %d writers woken", n-len(pw.woken), n)
			}
		}
	})

	t.Run("concurrent broadcasts", func(t *testing.T) {
		const n, rounds = 500, 20
		pw := newPacedWriters(n)
		var wg sync.WaitGroup
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-pw.woken:
					pw.runnable.Add(-1)
					pw.p.ran()
				case <-done:
					return
				}
			}
		}()
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					for _, e := range pw.entries {
						pw.p.enqueue(e)
					}
				}
			}()
		}
		wg.Wait()
		// Once the queue drains, every entry has had a wake after its last enqueue.
		waitFor(t, "the queue to drain", func() bool {
			pw.p.mu.Lock()
			defer pw.p.mu.Unlock()
			return !pw.p.running
		})
		close(done)
		for i := range pw.wakes {
			if pw.wakes[i].Load() == 0 || pw.entries[i].queued.Load() {
				t.Fatalf("writer %d: %d wakes, still queued %v", i, pw.wakes[i].Load(), pw.entries[i].queued.Load())
			}
		}
		if m := pw.maxSeen.Load(); m > stateWakeLimit {
			t.Fatalf("%d woken at once; the limit is %d", m, stateWakeLimit)
		}
	})
}

func TestStatePacerInline(t *testing.T) {
	// Long enough to be shared among goroutines (serve), with every third entry declining.
	const n = 4*inlineShard + 7
	pw := newPacedWriters(n)
	pw.p.inlineWorkers = 3
	inlined := make([]atomic.Int64, n)
	for i, e := range pw.entries {
		e.inline = func() bool {
			inlined[i].Add(1)
			return i%3 != 0
		}
	}
	for _, e := range pw.entries {
		pw.p.enqueue(e)
	}
	declined := (n + 2) / 3
	pw.run(declined, func() {})
	for i := range n {
		if got := inlined[i].Load(); got != 1 {
			t.Fatalf("entry %d: inline tried %d times, want 1", i, got)
		}
		want := int64(0)
		if i%3 == 0 {
			want = 1
		}
		if got := pw.wakes[i].Load(); got != want {
			t.Fatalf("entry %d (inline served: %v): woken %d times, want %d", i, i%3 != 0, got, want)
		}
	}
	select {
	case i := <-pw.woken:
		t.Fatalf("entry %d woken although its inline path served it", i)
	case <-time.After(20 * time.Millisecond):
	}

	t.Run("an entry queued again while its inline write runs is served again", func(t *testing.T) {
		p := newStatePacer()
		var calls atomic.Int64
		served := make(chan struct{}, 2)
		var e paceEntry
		e.wake = func() { t.Error("woken although the inline path served it") }
		e.inline = func() bool {
			if calls.Add(1) == 1 {
				p.enqueue(&e) // a newer state, published during the write
			}
			served <- struct{}{}
			return true
		}
		p.enqueue(&e)
		for range 2 {
			select {
			case <-served:
			case <-time.After(time.Second):
				t.Fatalf("served %d times, want 2", calls.Load())
			}
		}
	})
}

func TestOnFreshStack(t *testing.T) {
	t.Run("runs f to its end before returning", func(t *testing.T) {
		done := false
		onFreshStack(func() {
			time.Sleep(5 * time.Millisecond)
			done = true
		})
		if !done {
			t.Fatal("onFreshStack returned before f ended")
		}
	})
	t.Run("a panic in f goes on in the caller", func(t *testing.T) {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		onFreshStack(func() { panic("boom") })
		t.Fatal("no panic reached the caller")
	})
}
