package models_test

import (
	"context"
	"testing"
	"time"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// ids lists the ids of auctions in order.
func ids(as []models.Auction) []int64 {
	out := make([]int64, len(as))
	for i, a := range as {
		out[i] = a.ID
	}
	return out
}

func sameIDs(t *testing.T, what string, got []models.Auction, want ...int64) {
	t.Helper()
	g := ids(got)
	if len(g) != len(want) {
		t.Errorf("%s = %v, want %v", what, g, want)
		return
	}
	for i := range g {
		if g[i] != want[i] {
			t.Errorf("%s = %v, want %v", what, g, want)
			return
		}
	}
}

func TestAccountQueries(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := mustUser(t, s, "seller")
		me := mustUser(t, s, "me")
		other := mustUser(t, s, "other")
		now := base.Add(30 * time.Minute)

		bid := func(a *models.Auction, u *models.User, amount string, seq int64) {
			t.Helper()
			b := models.Bid{AuctionID: a.ID, BidderID: u.ID, Amount: dec(t, amount), MaxAmount: dec(t, amount), Seq: seq, CreatedAt: base}
			if err := s.DB().Create(&b).Error; err != nil {
				t.Fatalf("bid: %v", err)
			}
		}
		closed := func(winner *models.User, at time.Duration) func(a *models.Auction) {
			return func(a *models.Auction) {
				a.Status = models.StatusClosed
				a.ClosedReason = ptr("ended")
				a.ClosedAt = ptr(base.Add(at))
				if winner != nil {
					a.WinnerID = &winner.ID
					a.HighBidderID = &winner.ID
				}
			}
		}

		// Open; I lead (two bids of mine: listed once).
		leading := mustAuction(t, s, seller, func(a *models.Auction) { a.HighBidderID = &me.ID; a.EndsAt = base.Add(2 * time.Hour) })
		bid(leading, me, "10.00", 2)
		bid(leading, me, "12.00", 3)
		// Open; outbid, ends sooner.
		outbid := mustAuction(t, s, seller, func(a *models.Auction) { a.HighBidderID = &other.ID })
		bid(outbid, me, "10.00", 2)
		bid(outbid, other, "11.00", 3)
		// Open, but only others bid.
		mustAuction(t, s, seller, func(a *models.Auction) { a.HighBidderID = &other.ID })
		// Past its end but not yet closed by the engine: not open any more.
		lapsed := mustAuction(t, s, seller, func(a *models.Auction) { a.EndsAt = base.Add(10 * time.Minute) })
		bid(lapsed, me, "10.00", 2)
		// Won by bidding, and won by buying without a bid.
		won := mustAuction(t, s, seller, closed(me, time.Minute))
		bid(won, me, "10.00", 2)
		bought := mustAuction(t, s, seller, closed(me, 2*time.Minute))
		// Lost to another, and lost because nobody won (reserve not met).
		lost := mustAuction(t, s, seller, closed(other, 3*time.Minute))
		bid(lost, me, "10.00", 2)
		bid(lost, other, "11.00", 3)
		noWinner := mustAuction(t, s, seller, closed(nil, 4*time.Minute))
		bid(noWinner, me, "10.00", 2)
		// Cancelled after I bid: neither won nor lost.
		cancelled := mustAuction(t, s, seller, func(a *models.Auction) { a.Status = models.StatusCancelled })
		bid(cancelled, me, "10.00", 2)
		// Someone else's win that I never bid on.
		mustAuction(t, s, seller, closed(other, 5*time.Minute))
		// My own auction.
		mine := mustAuction(t, s, me, nil)

		got, err := s.OpenAuctionsBidOn(ctx, me.ID, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		sameIDs(t, "OpenAuctionsBidOn", got, outbid.ID, leading.ID)
		if len(got) == 2 {
			if got[1].HighBidderID == nil || *got[1].HighBidderID != me.ID || got[1].Seller.Username != "seller" {
				t.Errorf("leading auction row: %+v", got[1])
			}
		}

		got, err = s.AuctionsWonBy(ctx, me.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		sameIDs(t, "AuctionsWonBy", got, bought.ID, won.ID)

		got, err = s.AuctionsLostBy(ctx, me.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		sameIDs(t, "AuctionsLostBy", got, noWinner.ID, lost.ID)
		if len(got) == 2 && (got[1].Winner == nil || got[1].Winner.Username != "other") {
			t.Errorf("lost auction's winner not loaded: %+v", got[1].Winner)
		}

		got, err = s.AuctionsBySeller(ctx, me.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		sameIDs(t, "AuctionsBySeller(me)", got, mine.ID)
		got, err = s.AuctionsBySeller(ctx, seller.ID, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Errorf("AuctionsBySeller with limit 3 gave %d", len(got))
		}

		// Someone with no activity gets empty lists, not nil.
		nobody := mustUser(t, s, "nobody")
		for name, f := range map[string]func() ([]models.Auction, error){
			"sold": func() ([]models.Auction, error) { return s.AuctionsBySeller(ctx, nobody.ID, 0) },
			"open": func() ([]models.Auction, error) { return s.OpenAuctionsBidOn(ctx, nobody.ID, now, 0) },
			"won":  func() ([]models.Auction, error) { return s.AuctionsWonBy(ctx, nobody.ID, 0) },
			"lost": func() ([]models.Auction, error) { return s.AuctionsLostBy(ctx, nobody.ID, 0) },
		} {
			if got, err := f(); err != nil || got == nil || len(got) != 0 {
				t.Errorf("%s for nobody = %v, %v", name, got, err)
			}
		}
	})
}
