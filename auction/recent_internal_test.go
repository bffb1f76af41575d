package auction

import (
	"fmt"
	"slices"
	"testing"

	"auctionhouse/models"
)

// rememberBids keeps the newest RecentBids, newest first, in place: checked against the plain
// definition (the batch reversed, then the old list, cut to RecentBids) for every mix of old
// list and batch length around the limit, and without allocating once the list is full.
func TestRememberBids(t *testing.T) {
	view := func(id int64) BidView { return bidView(models.Bid{ID: id}, fmt.Sprint("u", id)) }
	for _, old := range []int{0, 1, 5, RecentBids - 1, RecentBids} {
		for _, k := range []int{0, 1, 3, RecentBids - 1, RecentBids, RecentBids + 5} {
			t.Run(fmt.Sprintf("old=%d/batch=%d", old, k), func(t *testing.T) {
				a := &actor{}
				for i := range old {
					a.recent = append(a.recent, view(int64(old-i))) // ids old..1, newest first
				}
				b := &batch{}
				for i := range k {
					id := int64(old + 1 + i)
					b.bids = append(b.bids, models.Bid{ID: id})
					b.names = append(b.names, fmt.Sprint("u", id))
				}
				var want []BidView
				for i := k - 1; i >= 0; i-- {
					want = append(want, view(b.bids[i].ID))
				}
				want = append(want, a.recent...)
				want = want[:min(len(want), RecentBids)]

				a.rememberBids(b)
				if !slices.Equal(a.recent, want) {
					t.Fatalf("got ids %v, want %v", ids(a.recent), ids(want))
				}
			})
		}
	}

	full := &actor{}
	full.rememberBids(&batch{bids: make([]models.Bid, RecentBids), names: make([]string, RecentBids)})
	one := &batch{bids: []models.Bid{{ID: 99}}, names: []string{""}}
	perView := testing.AllocsPerRun(100, func() { _ = bidView(one.bids[0], "") })
	if n := testing.AllocsPerRun(100, func() { full.rememberBids(one) }); n > perView {
		t.Errorf("%.0f allocations per one-bid commit, want only bidView's %.0f", n, perView)
	}
}

func ids(v []BidView) []int64 {
	out := make([]int64, len(v))
	for i, b := range v {
		out[i] = b.ID
	}
	return out
}
