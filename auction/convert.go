package auction

import (
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/models"
)

func userRef(id *int64, u *models.User) UserRef {
	if id == nil || *id == 0 {
		return UserRef{}
	}
	r := UserRef{ID: *id}
	if u != nil {
		r.Name = u.Username
	}
	return r
}

func refID(u UserRef) *int64 {
	if u.IsZero() {
		return nil
	}
	id := u.ID
	return &id
}

// stateFromRow builds the engine state from a stored auction with its users preloaded.
func stateFromRow(a *models.Auction) State {
	s := State{
		ID:               a.ID,
		Seller:           UserRef{ID: a.SellerID, Name: a.Seller.Username},
		Title:            a.Title,
		Description:      a.Description,
		Currency:         a.Currency,
		Status:           Status(a.Status),
		StartingPrice:    a.StartingPrice,
		ReservePrice:     a.ReservePrice,
		BuyNowPrice:      a.BuyNowPrice,
		StartsAt:         a.StartsAt.UTC(),
		EndsAt:           a.EndsAt.UTC(),
		OriginalEndsAt:   a.OriginalEndsAt.UTC(),
		ExtensionSeconds: a.ExtensionSeconds,
		CurrentPrice:     a.CurrentPrice,
		Leader:           userRef(a.HighBidderID, a.HighBidder),
		BidCount:         a.BidCount,
		Winner:           userRef(a.WinnerID, a.Winner),
		Seq:              a.Seq,
		Watchers:         a.Watchers,
	}
	if a.LeaderMax.Valid {
		s.LeaderMax = a.LeaderMax.Decimal
	}
	if a.ClosedReason != nil {
		s.ClosedReason = *a.ClosedReason
	}
	if a.ClosedAt != nil {
		s.ClosedAt = a.ClosedAt.UTC()
	}
	return s
}

// rowFromState is the stored form of the mutable part of s, for the conditional update.
func rowFromState(s *State, now time.Time) *models.Auction {
	a := &models.Auction{
		ID:           s.ID,
		Status:       string(s.Status),
		CurrentPrice: s.CurrentPrice,
		HighBidderID: refID(s.Leader),
		BidCount:     s.BidCount,
		EndsAt:       s.EndsAt,
		WinnerID:     refID(s.Winner),
		Seq:          s.Seq,
		Watchers:     s.Watchers,
		UpdatedAt:    now,
	}
	if !s.Leader.IsZero() {
		a.LeaderMax = decimal.NewNullDecimal(s.LeaderMax)
	}
	if s.ClosedReason != "" {
		r := s.ClosedReason
		a.ClosedReason = &r
	}
	if !s.ClosedAt.IsZero() {
		t := s.ClosedAt
		a.ClosedAt = &t
	}
	return a
}
