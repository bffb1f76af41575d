package handlers

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// homePageSize is how many auctions one page of the home list shows.
const homePageSize = 24

// auctionCard is one auction in a list: its public view, its first photo (a file name or "")
// and the price to show.
type auctionCard struct {
	auction.View
	Photo string
	// Price is the current price, or the starting price while there is no bid; PriceLabel
	// says which.
	Price      string
	PriceLabel string
}

func newAuctionCard(v auction.View, photo string) auctionCard {
	card := auctionCard{View: v, Photo: photo, Price: v.StartingPrice, PriceLabel: "Starting at"}
	if v.CurrentPrice != nil {
		card.Price, card.PriceLabel = *v.CurrentPrice, "Current bid"
	}
	return card
}

// homeData is the content of templates/home.html.
type homeData struct {
	Auctions []auctionCard
	// PrevPage and NextPage are the neighbouring page numbers, 0 when there is none.
	PrevPage, NextPage int
}

// homePage lists the open auctions, newest first: GET /?page=N.
func (s *Server) homePage(c *fiber.Ctx) error {
	pageNo, err := queryInt(c, "page", 1)
	if err != nil || pageNo < 1 {
		pageNo = 1
	}
	// One more than a page tells whether there is a next page.
	views, err := s.engine.List(c.UserContext(), auction.ListOptions{
		Status: auction.StatusOpen,
		Limit:  homePageSize + 1,
		Offset: (pageNo - 1) * homePageSize,
	})
	if err != nil {
		return err
	}
	data := homeData{}
	if len(views) > homePageSize {
		views = views[:homePageSize]
		data.NextPage = pageNo + 1
	}
	if pageNo > 1 {
		data.PrevPage = pageNo - 1
	}
	cards, err := s.auctionCards(c, views)
	if err != nil {
		return err
	}
	data.Auctions = cards
	return s.render(c, fiber.StatusOK, "home", page{
		Title:   "Open auctions",
		Nav:     "auctions",
		Scripts: []string{"/static/js/format.js", "/static/js/list.js"},
		Data:    data,
	})
}

// auctionCards pairs views with their first photos, found in one query.
func (s *Server) auctionCards(c *fiber.Ctx, views []auction.View) ([]auctionCard, error) {
	ids := make([]int64, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	photos, err := s.store.FirstPhotos(c.UserContext(), ids)
	if err != nil {
		return nil, err
	}
	cards := make([]auctionCard, len(views))
	for i, v := range views {
		cards[i] = newAuctionCard(v, photos[v.ID].FileName)
	}
	return cards, nil
}

// flash is a one-line message at the top of a page, after a form post redirected there.
type flash struct {
	// Kind is "ok" or "error", for the style.
	Kind string
	Text string
}

// auctionMessages are the outcomes of the no-JavaScript bid and buy forms, by the code in
// ?msg=. Only these codes show anything, so the query string cannot put text on the page.
var auctionMessages = map[string]flash{
	"bid_leading":         {"ok", "Your bid is in. You are the highest bidder."},
	"bid_not_leading":     {"error", "Your bid is in, but another bidder's maximum is higher: you have been outbid."},
	"bought":              {"ok", "You bought it! The auction is closed and you are the winner."},
	"bid_too_low":         {"error", "Your bid is too low. Bid at least the minimum next bid; if you lead, only a higher maximum is accepted."},
	"invalid_amount":      {"error", "Enter an amount like 12.50: above 0, with at most two decimals. A maximum cannot be below the bid."},
	"invalid_request":     {"error", "The bid could not be read. Please try again."},
	"auction_not_open":    {"error", "Bidding has not started yet."},
	"auction_closed":      {"error", "This auction has ended."},
	"own_auction":         {"error", "You cannot bid on or buy your own auction."},
	"buy_now_unavailable": {"error", "Buy now is no longer available: the auction has bids or has ended."},
	"unavailable":         {"error", "The server is busy. Please try again; a repeated bid is never placed twice."},
	"rate_limited":        {"error", "Too many requests in a short time. Wait a moment and try again."},
}

// auctionData is the content of templates/auction.html.
type auctionData struct {
	View   auction.View
	Photos []models.Photo
	Bids   []auction.BidView
	// Price and PriceLabel as in auctionCard.
	Price      string
	PriceLabel string
	// IsSeller: the signed-in user sells this auction. CanBid and CanBuy: the bid and buy-now
	// forms are shown. Anonymous: nobody is signed in, so a "Log in to bid" link is shown.
	IsSeller, CanBid, CanBuy, Anonymous bool
	// Finished: closed or cancelled; there is no next bid.
	Finished bool
	// WinnerText is the #winner line of a finished auction.
	WinnerText string
	// ReserveText is "Reserve met" or "Reserve not met", or "" when there is no reserve;
	// ReserveMet is "true", "false" or "", for the style (data-met, which the live script
	// keeps up to date).
	ReserveText, ReserveMet string
	Flash                   *flash
	// RequestID makes the no-JS bid form idempotent: a double click sends the same id twice,
	// and the engine places the bid once.
	RequestID string
	// TimeLeft is the countdown until the end, as the server's clock sees it.
	TimeLeft string
}

// auctionPage shows one auction, live: GET /auctions/{id}. The state comes from the auction's
// actor (the newest, like every live update), the bids and photos from the database.
func (s *Server) auctionPage(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	// The actor's memory holds all of it: a page view costs no query.
	p, err := s.engine.Page(c.UserContext(), id)
	if err != nil {
		return err
	}
	view, bids, photos := p.View, p.Bids, p.Photos
	card := newAuctionCard(view, "")
	data := auctionData{
		View:       view,
		Photos:     photos,
		Bids:       bids,
		Price:      card.Price,
		PriceLabel: card.PriceLabel,
		WinnerText: winnerText(view),
		TimeLeft:   timeLeft(view.EndsAt, s.now()),
	}
	if met := view.ReserveMet; met != nil {
		data.ReserveText, data.ReserveMet = "Reserve not met", "false"
		if *met {
			data.ReserveText, data.ReserveMet = "Reserve met", "true"
		}
	}
	if f, ok := auctionMessages[c.Query("msg")]; ok {
		data.Flash = &f
	}
	// A scheduled auction gets its form too, disabled by the live script until it opens, so
	// that nobody has to reload at the start.
	biddable := view.Status == auction.StatusOpen || view.Status == auction.StatusScheduled
	data.Finished = !biddable
	if id := identityOf(c); id != nil {
		data.IsSeller = id.user.ID == view.Seller.ID
		data.CanBid = biddable && !data.IsSeller
		data.CanBuy = data.CanBid && view.Status == auction.StatusOpen && view.BuyNowPrice != nil && view.BidCount == 0
		if data.CanBid {
			if data.RequestID, err = newToken(); err != nil {
				return err
			}
		}
	} else {
		data.Anonymous = true
	}
	pg := page{
		Title:   view.Title,
		Nav:     "auctions",
		Scripts: []string{"/static/js/format.js", "/static/js/auction.js"},
		Data:    data,
	}
	if data.Anonymous && data.Flash == nil {
		return s.renderAnonAuction(c, view, pg, data)
	}
	return s.render(c, fiber.StatusOK, "auction", pg)
}

// renderAnonAuction serves the auction page to a visitor who is not signed in from the page
// cache (anonPages), rendering it into the cache first when the auction has changed since.
func (s *Server) renderAnonAuction(c *fiber.Ctx, view auction.View, p page, data auctionData) error {
	csrf, err := s.pageCSRFToken(c)
	if err != nil {
		return err
	}
	holes := pageHoles{CSRF: csrf, TimeLeft: data.TimeLeft, ServerTime: view.ServerTime}
	if !holes.safe() {
		return s.render(c, fiber.StatusOK, "auction", p)
	}
	cached := s.anonPages.lookup(view.ID, view.Seq)
	if cached == nil {
		marks := s.anonPages.marks
		data.TimeLeft, data.View.ServerTime = marks.TimeLeft, marks.ServerTime
		p.Data, p.CSRF = data, marks.CSRF
		p.Now = s.now().UTC()
		p.ServerTime = auction.FormatTime(p.Now)
		html, err := s.execute(c, "auction", p)
		if err != nil {
			return err
		}
		cached = s.anonPages.splice(view.Seq, html)
		s.anonPages.store(view.ID, cached)
	}
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(cached.fill(holes))
}

// winnerText is the outcome of a finished auction as #winner shows it, or "" while it runs.
func winnerText(v auction.View) string {
	switch {
	case v.Status == auction.StatusCancelled:
		return "Cancelled"
	case v.Status != auction.StatusClosed:
		return ""
	case v.Winner != nil:
		return "Won by " + v.Winner.Name
	default:
		return "Ended without a winner"
	}
}

// auctionURL is the page of an auction, with a message code when one is given.
func auctionURL(id int64, msg string) string {
	u := "/auctions/" + strconv.FormatInt(id, 10)
	if msg != "" {
		u += "?msg=" + msg
	}
	return u
}

// formOutcome turns an engine refusal into the message code of the auction page, or returns
// the error when it is not an outcome a bidder can act on (a missing auction, a failure).
func formOutcome(err error) (string, error) {
	code := string(auction.ErrorCode(err))
	if _, ok := auctionMessages[code]; ok {
		return code, nil
	}
	return "", err
}

// bidSubmit places a bid from the auction page's form, for browsers without JavaScript:
// POST /auctions/{id}/bid with amount, optional max_amount and request_id. It answers by
// sending the browser back to the auction with the outcome.
func (s *Server) bidSubmit(c *fiber.Ctx) error {
	auctionID, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	id, err := formUser(c)
	if errors.Is(err, errFormSignIn) {
		return loginRedirect(c, auctionURL(auctionID, ""))
	}
	if err != nil {
		return err
	}
	// The same per-user bucket as WebSocket and API bids: the form is a third way to bid.
	if !s.live.bidLimit.allow(id.user.ID) {
		return redirect(c, auctionURL(auctionID, string(auction.CodeRateLimited)))
	}
	bid := auction.BidRequest{Bidder: userRef(id.user)}
	// Spaces around a typed amount are a slip of the finger, not a different amount.
	if bid.Amount, err = auction.ParseAmount(strings.TrimSpace(postField(c, "amount"))); err != nil {
		return redirect(c, auctionURL(auctionID, string(auction.CodeInvalidAmount)))
	}
	if raw := strings.TrimSpace(postField(c, "max_amount")); raw != "" {
		if bid.MaxAmount, err = auction.ParseAmount(raw); err != nil {
			return redirect(c, auctionURL(auctionID, string(auction.CodeInvalidAmount)))
		}
	}
	if rid := postField(c, "request_id"); utf8.RuneCountInString(rid) <= maxBidRequestIDLen {
		bid.RequestID = rid
	}
	res, err := s.engine.Bid(c.UserContext(), auctionID, bid)
	if err != nil {
		msg, err := formOutcome(err)
		if err != nil {
			return err
		}
		return redirect(c, auctionURL(auctionID, msg))
	}
	if res.Leading {
		return redirect(c, auctionURL(auctionID, "bid_leading"))
	}
	return redirect(c, auctionURL(auctionID, "bid_not_leading"))
}

// buySubmit buys an auction at its buy-now price from the auction page's form:
// POST /auctions/{id}/buy.
func (s *Server) buySubmit(c *fiber.Ctx) error {
	auctionID, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	id, err := formUser(c)
	if errors.Is(err, errFormSignIn) {
		return loginRedirect(c, auctionURL(auctionID, ""))
	}
	if err != nil {
		return err
	}
	if _, err := s.engine.Buy(c.UserContext(), auctionID, userRef(id.user)); err != nil {
		msg, err := formOutcome(err)
		if err != nil {
			return err
		}
		return redirect(c, auctionURL(auctionID, msg))
	}
	return redirect(c, auctionURL(auctionID, "bought"))
}
