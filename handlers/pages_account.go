package handlers

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// accountListLimit bounds each list of the account page, so that a very active account still
// gets a page of bounded size; the newest (or soonest ending) come first.
const accountListLimit = 100

// accountRow is one auction in a list of the account page, from its stored row.
type accountRow struct {
	ID     int64
	Title  string
	Status auction.Status
	EndsAt string
	// EndedAt is when a finished auction was closed or cancelled (which an admin may do before
	// EndsAt), or "".
	EndedAt  string
	BidCount int
	// Price and PriceLabel as in auctionCard.
	Price, PriceLabel string
	// Leading: the user is the high bidder. Winner: the winner's name, if any.
	Leading bool
	Winner  string
}

// newAccountRow describes a stored auction for userID at now. The status is the effective one
// (as the lists of the API use): a row the engine has not yet closed is shown closed once its
// end has passed.
func newAccountRow(a *models.Auction, userID int64, now time.Time) accountRow {
	row := accountRow{
		ID:         a.ID,
		Title:      a.Title,
		Status:     auction.Status(a.Status),
		EndsAt:     auction.FormatTime(a.EndsAt),
		BidCount:   a.BidCount,
		Price:      auction.FormatAmount(a.StartingPrice),
		PriceLabel: "Starting at",
		Leading:    a.HighBidderID != nil && *a.HighBidderID == userID,
	}
	if a.CurrentPrice.Valid {
		row.Price, row.PriceLabel = auction.FormatAmount(a.CurrentPrice.Decimal), "Current bid"
	}
	switch {
	case (row.Status == auction.StatusOpen || row.Status == auction.StatusScheduled) && !now.Before(a.EndsAt):
		row.Status = auction.StatusClosed
	case row.Status == auction.StatusScheduled && !now.Before(a.StartsAt):
		row.Status = auction.StatusOpen
	}
	if a.ClosedAt != nil {
		row.EndedAt = auction.FormatTime(*a.ClosedAt)
	}
	if a.Winner != nil {
		row.Winner = a.Winner.Username
		row.PriceLabel = "Sold for"
	}
	return row
}

// accountData is the content of templates/account.html.
type accountData struct {
	Selling, Bidding, Won, Lost []accountRow
}

// accountPage shows the signed-in user's auctions: GET /account. What they sell, the open
// auctions they bid on (and whether they lead), and those they won and lost.
func (s *Server) accountPage(c *fiber.Ctx) error {
	id := identityOf(c)
	if id == nil {
		return loginRedirect(c, "/account")
	}
	ctx, uid, now := c.UserContext(), id.user.ID, s.now().UTC()
	rows := func(list []models.Auction) []accountRow {
		out := make([]accountRow, len(list))
		for i := range list {
			out[i] = newAccountRow(&list[i], uid, now)
		}
		return out
	}
	var data accountData
	selling, err := s.store.AuctionsBySeller(ctx, uid, accountListLimit)
	if err != nil {
		return err
	}
	data.Selling = rows(selling)
	bidding, err := s.store.OpenAuctionsBidOn(ctx, uid, now, accountListLimit)
	if err != nil {
		return err
	}
	data.Bidding = rows(bidding)
	won, err := s.store.AuctionsWonBy(ctx, uid, accountListLimit)
	if err != nil {
		return err
	}
	data.Won = rows(won)
	lost, err := s.store.AuctionsLostBy(ctx, uid, accountListLimit)
	if err != nil {
		return err
	}
	data.Lost = rows(lost)
	return s.render(c, fiber.StatusOK, "account", page{
		Title:   "My account",
		Nav:     "account",
		Scripts: []string{"/static/js/format.js", "/static/js/list.js"},
		Data:    data,
	})
}
