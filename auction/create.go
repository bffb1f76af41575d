package auction

import (
	"context"
	"fmt"

	"auctionhouse/models"
)

// CreateAuction validates a seller's input and stores the new auction. It opens at once when
// its start is now or past, else it is scheduled; its actor starts when first needed.
func (e *Engine) CreateAuction(ctx context.Context, seller UserRef, in NewAuctionInput) (View, error) {
	if seller.IsZero() {
		return View{}, ErrUnauthenticated
	}
	now := e.opts.Now().UTC()
	a, err := in.Validate(now)
	if err != nil {
		return View{}, err
	}
	status := models.StatusScheduled
	if !now.Before(a.StartsAt) {
		status = models.StatusOpen
	}
	row := &models.Auction{
		SellerID:         seller.ID,
		Title:            a.Title,
		Description:      a.Description,
		Currency:         "USD",
		StartingPrice:    a.StartingPrice,
		ReservePrice:     a.ReservePrice,
		BuyNowPrice:      a.BuyNowPrice,
		StartsAt:         a.StartsAt,
		EndsAt:           a.EndsAt,
		OriginalEndsAt:   a.EndsAt,
		ExtensionSeconds: a.ExtensionSeconds,
		Status:           status,
		Seq:              1,
	}
	if err := e.store.CreateAuction(ctx, row); err != nil {
		return View{}, fmt.Errorf("store new auction: %w", err)
	}
	row.Seller = models.User{ID: seller.ID, Username: seller.Name}
	s := stateFromRow(row)
	return NewView(&s, now), nil
}
