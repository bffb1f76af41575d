package auction

// subSet is an actor's watchers in the order they subscribed. A broadcast publishes to them in
// that order, so that the WebSocket layer's pacer, which writes in the order it is asked,
// visits each watcher once per pass at the same place in it. Iterating a map shuffled the
// order of every broadcast, and a watcher served first in one pass and last in the next waited
// up to two passes for a state (BENCHMARKS.md, fanout).
type subSet struct {
	list  []*Subscription
	index map[*Subscription]int
}

func newSubSet() subSet { return subSet{index: make(map[*Subscription]int)} }

func (s *subSet) len() int { return len(s.list) }

func (s *subSet) has(sub *Subscription) bool {
	_, ok := s.index[sub]
	return ok
}

func (s *subSet) add(sub *Subscription) {
	if s.has(sub) {
		return
	}
	s.index[sub] = len(s.list)
	s.list = append(s.list, sub)
}

// remove takes sub out; the last watcher takes its place, the only one whose turn moves.
func (s *subSet) remove(sub *Subscription) {
	i, ok := s.index[sub]
	if !ok {
		return
	}
	last := len(s.list) - 1
	if i != last {
		s.list[i] = s.list[last]
		s.index[s.list[i]] = i
	}
	s.list[last] = nil
	s.list = s.list[:last]
	delete(s.index, sub)
}

// all is the watchers in order; the slice is the set's own, valid until it changes.
func (s *subSet) all() []*Subscription { return s.list }
