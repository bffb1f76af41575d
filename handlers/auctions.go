package handlers

import (
	"encoding/json"
	"errors"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"

	"auctionhouse/auction"
)

// listAuctions answers GET /api/v1/auctions?status=&limit=&offset=, newest first. A limit of 0
// or none means the engine's default; larger than auction.MaxListLimit is clamped by the engine.
func (s *Server) listAuctions(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 0)
	if err != nil {
		return err
	}
	offset, err := queryInt(c, "offset", 0)
	if err != nil {
		return err
	}
	views, err := s.engine.List(c.UserContext(), auction.ListOptions{
		Status: auction.Status(c.Query("status")),
		Limit:  limit,
		Offset: offset,
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"auctions": views})
}

// newAuctionRequest is the body of POST /api/v1/auctions. Amounts are raw so that a JSON number
// can be told from a string (numbers are invalid_amount, PROTOCOL.md §2); times are strings
// parsed here so that a bad one gets a message naming its field.
type newAuctionRequest struct {
	Title            string          `json:"title"`
	Description      string          `json:"description"`
	StartingPrice    json.RawMessage `json:"starting_price"`
	ReservePrice     json.RawMessage `json:"reserve_price"`
	BuyNowPrice      json.RawMessage `json:"buy_now_price"`
	StartsAt         *string         `json:"starts_at"`
	EndsAt           *string         `json:"ends_at"`
	ExtensionSeconds *int            `json:"extension_seconds"`
}

// input turns the wire form into the engine's input. Fields that cannot even be parsed are
// reported together with the engine's own checks of the rest, in one *auction.ValidationError,
// so that the answer names every bad field and its code follows the same rule either way
// (invalid_request if any field is malformed, else invalid_amount).
func (r *newAuctionRequest) input(s *Server) (auction.NewAuctionInput, error) {
	in := auction.NewAuctionInput{
		Title:            r.Title,
		Description:      r.Description,
		ExtensionSeconds: r.ExtensionSeconds,
	}
	bad := map[string]*auction.Error{}
	note := func(field string, err error) {
		bad[field] = &auction.Error{Code: auction.ErrorCode(err), Message: auction.ErrorMessage(err)}
	}

	if d, err := auction.ParseAmountJSON("starting_price", r.StartingPrice); err != nil {
		note("starting_price", err)
	} else {
		in.StartingPrice = d
	}
	if d, ok, err := auction.ParseOptionalAmountJSON("reserve_price", r.ReservePrice); err != nil {
		note("reserve_price", err)
	} else if ok {
		in.ReservePrice = decimal.NewNullDecimal(d)
	}
	if d, ok, err := auction.ParseOptionalAmountJSON("buy_now_price", r.BuyNowPrice); err != nil {
		note("buy_now_price", err)
	} else if ok {
		in.BuyNowPrice = decimal.NewNullDecimal(d)
	}
	if r.StartsAt != nil {
		if t, err := parseTime("starts_at", *r.StartsAt); err != nil {
			note("starts_at", err)
		} else {
			in.StartsAt = &t
		}
	}
	if r.EndsAt != nil {
		if t, err := parseTime("ends_at", *r.EndsAt); err != nil {
			note("ends_at", err)
		} else {
			in.EndsAt = t
		}
	}
	if len(bad) == 0 {
		return in, nil
	}

	// Let the engine's rules judge the fields that did parse. The clock used here only shapes
	// messages; the engine checks again with its own clock when the input is good.
	var verr *auction.ValidationError
	if _, err := in.Validate(s.now()); errors.As(err, &verr) {
		for field, e := range verr.Fields {
			if _, seen := bad[field]; !seen && !dependsOnBad(field, bad) {
				bad[field] = e
			}
		}
	}
	return in, &auction.ValidationError{Fields: bad}
}

// dependsOnBad reports whether the engine's complaint about field may be only a consequence of
// a field that failed to parse (left zero): an end "not after the start" when the start was
// unreadable, say. Such complaints would mislead, so they are dropped.
func dependsOnBad(field string, bad map[string]*auction.Error) bool {
	has := func(f string) bool { _, ok := bad[f]; return ok }
	switch field {
	case "reserve_price":
		return has("starting_price")
	case "buy_now_price":
		return has("starting_price") || has("reserve_price")
	case "ends_at":
		return has("starts_at")
	}
	return false
}

// createAuction answers POST /api/v1/auctions: the signed-in user puts an auction up.
func (s *Server) createAuction(c *fiber.Ctx) error {
	var req newAuctionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in, err := req.input(s)
	if err != nil {
		return err
	}
	view, err := s.engine.CreateAuction(c.UserContext(), userRef(currentUser(c)), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(view)
}

// getAuction answers GET /api/v1/auctions/{id} with the auction's current state.
func (s *Server) getAuction(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	view, err := s.engine.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(view)
}

// buyNow answers POST /api/v1/auctions/{id}/buy: the signed-in user buys at the buy-now price.
func (s *Server) buyNow(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	view, err := s.engine.Buy(c.UserContext(), id, userRef(currentUser(c)))
	if err != nil {
		return err
	}
	return c.JSON(view)
}

// closeAuction answers POST /api/v1/auctions/{id}/close: an admin ends the auction now.
func (s *Server) closeAuction(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	view, err := s.engine.Close(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(view)
}

// cancelAuction answers POST /api/v1/auctions/{id}/cancel: an admin cancels the auction.
func (s *Server) cancelAuction(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	view, err := s.engine.Cancel(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(view)
}
