package auction

import (
	"slices"
	"testing"
)

func TestSubSet(t *testing.T) {
	subs := make([]*Subscription, 5)
	for i := range subs {
		subs[i] = &Subscription{auctionID: int64(i)}
	}
	order := func(s *subSet) []int64 {
		var ids []int64
		for _, sub := range s.all() {
			ids = append(ids, sub.auctionID)
		}
		return ids
	}
	s := newSubSet()
	for _, sub := range subs {
		s.add(sub)
	}
	s.add(subs[2]) // already there: nothing changes
	if got := order(&s); !slices.Equal(got, []int64{0, 1, 2, 3, 4}) || s.len() != 5 {
		t.Fatalf("order %v, want the order of subscribing", got)
	}
	s.remove(subs[1]) // the last takes its place
	s.remove(subs[1]) // gone already: nothing changes
	if got := order(&s); !slices.Equal(got, []int64{0, 4, 2, 3}) {
		t.Fatalf("after removing 1: %v, want [0 4 2 3]", got)
	}
	s.remove(subs[3]) // the last one
	s.remove(subs[0])
	if got := order(&s); !slices.Equal(got, []int64{2, 4}) || s.has(subs[0]) || !s.has(subs[4]) {
		t.Fatalf("after removing 3 and 0: %v", got)
	}
	for _, sub := range s.all() {
		if i := s.index[sub]; s.list[i] != sub {
			t.Fatalf("index of %d is %d, where the list holds %d", sub.auctionID, i, s.list[i].auctionID)
		}
	}
}
