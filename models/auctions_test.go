package models_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// statusFixture creates one auction per way an auction can relate to the clock at base, and
// returns their ids by name.
func statusFixture(t *testing.T, s *models.Store) (ids map[string]int64, seller, bidder *models.User) {
	t.Helper()
	seller = mustUser(t, s, "Seller")
	bidder = mustUser(t, s, "Bidder")
	h := time.Hour
	fixtures := []struct {
		name         string
		status       string
		starts, ends time.Duration // relative to base
		created      time.Duration // relative to base
		leader       bool
		winner       bool
	}{
		{"scheduled", models.StatusScheduled, h, 2 * h, -10 * h, false, false},
		{"scheduled, started", models.StatusScheduled, -h, h, -9 * h, false, false},
		{"open", models.StatusOpen, -2 * h, h, -8 * h, true, false},
		{"open, ends now", models.StatusOpen, -2 * h, 0, -7*h + 500*time.Millisecond, false, false},
		{"scheduled, ended", models.StatusScheduled, -2 * h, -h, -7 * h, false, false},
		{"closed early", models.StatusClosed, -2 * h, h, -6 * h, true, true},
		{"cancelled", models.StatusCancelled, -2 * h, h, -5 * h, false, false},
		// Same created_at as "cancelled", created later: the id breaks the tie.
		{"scheduled, starts now", models.StatusScheduled, 0, h, -5 * h, false, false},
	}
	ids = map[string]int64{}
	for _, f := range fixtures {
		a := mustAuction(t, s, seller, func(a *models.Auction) {
			a.Title = f.name
			a.Status = f.status
			a.StartsAt = base.Add(f.starts)
			a.EndsAt = base.Add(f.ends)
			a.CreatedAt = base.Add(f.created)
			if f.leader {
				a.HighBidderID = &bidder.ID
				a.CurrentPrice = nullDec(t, "11.00")
			}
			if f.winner {
				a.WinnerID = &bidder.ID
				a.ClosedReason = ptr("admin")
				a.ClosedAt = ptr(base.Add(-time.Minute))
			}
		})
		ids[f.name] = a.ID
	}
	return ids, seller, bidder
}

func TestListAuctions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		ids, seller, bidder := statusFixture(t, s)
		all := []string{"scheduled, starts now", "cancelled", "closed early", "open, ends now",
			"scheduled, ended", "open", "scheduled, started", "scheduled"}
		tests := []struct {
			name   string
			filter models.ListFilter
			want   []string
		}{
			{"all", models.ListFilter{Now: base}, all},
			{"open", models.ListFilter{Status: models.StatusOpen, Now: base},
				[]string{"scheduled, starts now", "open", "scheduled, started"}},
			{"scheduled", models.ListFilter{Status: models.StatusScheduled, Now: base}, []string{"scheduled"}},
			{"closed", models.ListFilter{Status: models.StatusClosed, Now: base},
				[]string{"closed early", "open, ends now", "scheduled, ended"}},
			{"cancelled", models.ListFilter{Status: models.StatusCancelled, Now: base}, []string{"cancelled"}},
			{"open a millisecond earlier", models.ListFilter{Status: models.StatusOpen, Now: base.Add(-time.Millisecond)},
				[]string{"open, ends now", "open", "scheduled, started"}},
			{"limit", models.ListFilter{Limit: 3, Now: base}, all[:3]},
			{"limit and offset", models.ListFilter{Limit: 3, Offset: 6, Now: base}, all[6:]},
			{"offset past the end", models.ListFilter{Offset: 100, Now: base}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListAuctions(ctx, tt.filter)
				if err != nil {
					t.Fatalf("ListAuctions: %v", err)
				}
				var names []string
				for _, a := range got {
					names = append(names, a.Title)
				}
				if !slices.Equal(names, tt.want) {
					t.Errorf("got %q, want %q", names, tt.want)
				}
				for _, a := range got {
					if a.Seller.ID != seller.ID || a.Seller.Username != "Seller" {
						t.Errorf("%s: Seller not loaded: %+v", a.Title, a.Seller)
					}
					wantLeader := a.ID == ids["open"] || a.ID == ids["closed early"]
					if (a.HighBidder != nil) != wantLeader || (wantLeader && a.HighBidder.Username != bidder.Username) {
						t.Errorf("%s: HighBidder = %+v", a.Title, a.HighBidder)
					}
					wantWinner := a.ID == ids["closed early"]
					if (a.Winner != nil) != wantWinner || (wantWinner && a.Winner.ID != bidder.ID) {
						t.Errorf("%s: Winner = %+v", a.Title, a.Winner)
					}
				}
			})
		}
		if _, err := s.ListAuctions(ctx, models.ListFilter{Status: "bogus"}); err == nil {
			t.Error("unknown status accepted")
		}
	})
}

func TestDueAuctionIDs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ids, _, _ := statusFixture(t, s)
		tests := []struct {
			name string
			now  time.Time
			want []string
		}{
			{"at base", base, []string{"scheduled, started", "open, ends now", "scheduled, ended", "scheduled, starts now"}},
			{"a millisecond before", base.Add(-time.Millisecond), []string{"scheduled, started", "scheduled, ended"}},
			{"long before", base.Add(-3 * time.Hour), nil},
			{"long after", base.Add(3 * time.Hour), []string{"scheduled", "scheduled, started", "open",
				"open, ends now", "scheduled, ended", "scheduled, starts now"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var want []int64
				for _, n := range tt.want {
					want = append(want, ids[n])
				}
				slices.Sort(want)
				got, err := s.DueAuctionIDs(context.Background(), tt.now)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 0 || len(want) != 0 {
					if !slices.Equal(got, want) {
						t.Errorf("got %v, want %v", got, want)
					}
				}
			})
		}
	})
}

func TestAuctionByID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := mustUser(t, s, "Dora")
		a := mustAuction(t, s, seller, func(a *models.Auction) {
			a.ReservePrice = nullDec(t, "50.00")
			a.Currency = ""
		})
		got, err := s.AuctionByID(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Seller.Username != "Dora" || got.HighBidder != nil || got.Winner != nil {
			t.Errorf("relations: seller %+v, high bidder %+v, winner %+v", got.Seller, got.HighBidder, got.Winner)
		}
		if got.Currency != "USD" || got.Seq != 0 || got.BidCount != 0 || got.CurrentPrice.Valid || got.BuyNowPrice.Valid {
			t.Errorf("defaults: %+v", got)
		}
		if !got.OriginalEndsAt.Equal(a.EndsAt) || !got.ReservePrice.Valid || got.ReservePrice.Decimal.StringFixed(2) != "50.00" {
			t.Errorf("fields: original_ends_at %v, reserve %v", got.OriginalEndsAt, got.ReservePrice)
		}
		if _, err := s.AuctionByID(ctx, a.ID+1000); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("missing auction: %v, want ErrNotFound", err)
		}
		if err := s.CreateAuction(ctx, &models.Auction{SellerID: seller.ID, Status: ""}); err == nil {
			t.Error("auction without a status accepted")
		}
	})
}
