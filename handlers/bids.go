package handlers

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// Paging of GET /api/v1/auctions/{id}/bids. The contract promises "every accepted bid", so a
// request without a limit gets all of them; a client that pages names a limit, which is clamped
// to maxBidsLimit so that one answer stays bounded for those who ask for bounds.
const maxBidsLimit = 1000

// maxBidRequestIDLen is the longest request_id the contract allows, in characters.
const maxBidRequestIDLen = 64

// listBids answers GET /api/v1/auctions/{id}/bids?limit=&offset=: accepted bids, newest first,
// with the amounts as submitted and never the maximums.
func (s *Server) listBids(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 0)
	if err != nil {
		return err
	}
	offset, err := queryInt(c, "offset", 0)
	if err != nil {
		return err
	}
	// 0 asks the store for every bid.
	limit = min(limit, maxBidsLimit)
	bids, err := s.engine.Bids(c.UserContext(), id, limit, offset)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"bids": bids})
}

// bidRequest is the body of POST /api/v1/auctions/{id}/bids. Amounts are raw so that a JSON
// number can be told from a string (numbers are invalid_amount, PROTOCOL.md §2).
type bidRequest struct {
	Amount    json.RawMessage `json:"amount"`
	MaxAmount json.RawMessage `json:"max_amount"`
	RequestID *string         `json:"request_id"`
}

// toBid checks the fields and makes the engine's request for bidder. The WebSocket bid message
// carries the same fields and is checked here too (ws_reader.go), so both paths refuse alike.
func (r *bidRequest) toBid(bidder auction.UserRef) (auction.BidRequest, error) {
	bid := auction.BidRequest{Bidder: bidder}
	var err error
	if bid.Amount, err = auction.ParseAmountJSON("amount", r.Amount); err != nil {
		return auction.BidRequest{}, err
	}
	// Absent, max_amount stays zero, which the engine reads as "the same as amount".
	if bid.MaxAmount, _, err = auction.ParseOptionalAmountJSON("max_amount", r.MaxAmount); err != nil {
		return auction.BidRequest{}, err
	}
	if r.RequestID != nil {
		if utf8.RuneCountInString(*r.RequestID) > maxBidRequestIDLen {
			return auction.BidRequest{}, auction.Errorf(auction.CodeInvalidRequest, "request_id can be at most %d characters", maxBidRequestIDLen)
		}
		bid.RequestID = *r.RequestID
	}
	return bid, nil
}

// bidResponse answers an accepted bid.
type bidResponse struct {
	Bid     bidRecord    `json:"bid"`
	Leading bool         `json:"leading"`
	Auction auction.View `json:"auction"`
}

type bidRecord struct {
	ID        int64  `json:"id"`
	Amount    string `json:"amount"`
	CreatedAt string `json:"created_at"`
}

// placeBid answers POST /api/v1/auctions/{id}/bids: the signed-in user bids. A repeated
// request_id answers as the first time did and places nothing new.
func (s *Server) placeBid(c *fiber.Ctx) error {
	id, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	var req bidRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	user := currentUser(c)
	// The same per-user bucket as WebSocket bids: SSE clients bid here.
	if !s.live.bidLimit.allow(user.ID) {
		return auction.Errorf(auction.CodeRateLimited, "too many bids; slow down")
	}
	bid, err := req.toBid(userRef(user))
	if err != nil {
		return err
	}
	res, err := s.engine.Bid(c.UserContext(), id, bid)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(bidResponse{
		Bid: bidRecord{
			ID:        res.Bid.ID,
			Amount:    auction.FormatAmount(res.Bid.Amount),
			CreatedAt: auction.FormatTime(res.Bid.CreatedAt),
		},
		Leading: res.Leading,
		Auction: res.Auction(),
	})
}
