package auction

import (
	"time"

	"github.com/shopspring/decimal"
)

// incrementStep is one row of the increment table: prices below upTo step by step.
type incrementStep struct {
	upTo decimal.Decimal
	step decimal.Decimal
}

var (
	incrementTable = []incrementStep{
		{decimal.RequireFromString("1.00"), decimal.RequireFromString("0.05")},
		{decimal.RequireFromString("5.00"), decimal.RequireFromString("0.25")},
		{decimal.RequireFromString("25.00"), decimal.RequireFromString("0.50")},
		{decimal.RequireFromString("100.00"), decimal.RequireFromString("1.00")},
		{decimal.RequireFromString("250.00"), decimal.RequireFromString("2.50")},
		{decimal.RequireFromString("500.00"), decimal.RequireFromString("5.00")},
		{decimal.RequireFromString("1000.00"), decimal.RequireFromString("10.00")},
		{decimal.RequireFromString("2500.00"), decimal.RequireFromString("25.00")},
		{decimal.RequireFromString("5000.00"), decimal.RequireFromString("50.00")},
	}
	topIncrement = decimal.RequireFromString("100.00")
)

// Increment is the bid increment at a price (PROTOCOL.md §3).
func Increment(price decimal.Decimal) decimal.Decimal {
	for _, row := range incrementTable {
		if price.LessThan(row.upTo) {
			return row.step
		}
	}
	return topIncrement
}

// Advance applies what the clock alone changes: a scheduled auction opens at its start and an
// open one closes at its end, with the leader as winner if the reserve is met. changed reports
// whether anything happened; each transition raises Seq.
func Advance(s State, now time.Time) (next State, changed bool) {
	if s.Status == StatusScheduled && !now.Before(s.StartsAt) {
		s.Status = StatusOpen
		s.Seq++
		changed = true
	}
	if (s.Status == StatusOpen || s.Status == StatusScheduled) && !now.Before(s.EndsAt) {
		s = closeWith(s, ReasonEnded, s.EndsAt)
		changed = true
	}
	return s, changed
}

// checkOpen refuses commands that need an open auction, by the server clock alone.
func checkOpen(s *State, now time.Time) error {
	switch {
	case s.Finished() || !now.Before(s.EndsAt):
		return Errorf(CodeAuctionClosed, "auction %d is closed", s.ID)
	case s.Status == StatusScheduled && now.Before(s.StartsAt):
		return Errorf(CodeAuctionNotOpen, "auction %d opens at %s", s.ID, FormatTime(s.StartsAt))
	}
	return nil
}

// BidInput is one bid as the rules see it. A zero MaxAmount means "the same as Amount".
type BidInput struct {
	Bidder    UserRef
	Amount    decimal.Decimal
	MaxAmount decimal.Decimal
}

// Max is the bid's maximum: MaxAmount, or Amount when none was given.
func (b BidInput) Max() decimal.Decimal {
	if b.MaxAmount.IsZero() {
		return b.Amount
	}
	return b.MaxAmount
}

// BidOutcome is what an accepted bid did.
type BidOutcome struct {
	// Leading reports whether the bidder leads after the bid.
	Leading bool
	// Outbid is the bidder who lost the lead to this bid, or nobody.
	Outbid UserRef
}

// PlaceBid decides one bid by PROTOCOL.md §3 and returns the state after it. A rejected bid
// returns s unchanged with a domain error.
func PlaceBid(s State, in BidInput, now time.Time) (State, BidOutcome, error) {
	if err := checkBidInput(in); err != nil {
		return s, BidOutcome{}, err
	}
	if err := checkOpen(&s, now); err != nil {
		return s, BidOutcome{}, err
	}
	if in.Bidder.ID == s.Seller.ID {
		return s, BidOutcome{}, Errorf(CodeOwnAuction, "you cannot bid on your own auction")
	}
	next, outcome, err := applyProxy(s, in)
	if err != nil {
		return s, BidOutcome{}, err
	}
	next = meetReserve(next)
	next = extendSoftClose(next, now)
	next.Status = StatusOpen
	next.BidCount++
	next.Seq++
	return next, outcome, nil
}

func checkBidInput(in BidInput) error {
	if !in.Amount.IsPositive() {
		return Errorf(CodeInvalidAmount, "amount must be above 0")
	}
	if !in.MaxAmount.IsZero() && in.MaxAmount.LessThan(in.Amount) {
		return Errorf(CodeInvalidAmount, "max_amount %s is below amount %s", FormatAmount(in.MaxAmount), FormatAmount(in.Amount))
	}
	return nil
}

// applyProxy is rules 1 and 2 of proxy bidding: it moves the price and the lead.
func applyProxy(s State, in BidInput) (State, BidOutcome, error) {
	m := in.Max()
	if !s.Leader.IsZero() && s.Leader.ID == in.Bidder.ID {
		if !m.GreaterThan(s.LeaderMax) {
			return s, BidOutcome{}, Errorf(CodeBidTooLow, "you already lead; only a higher maximum than your %s is accepted", FormatAmount(s.LeaderMax))
		}
		s.LeaderMax = m
		return s, BidOutcome{Leading: true}, nil
	}
	if minNext := s.MinNextBid(); in.Amount.LessThan(minNext) {
		return s, BidOutcome{}, Errorf(CodeBidTooLow, "the minimum next bid is %s", FormatAmount(minNext))
	}
	if s.Leader.IsZero() {
		s.Leader, s.LeaderMax = in.Bidder, m
		s.CurrentPrice = decimal.NewNullDecimal(in.Amount)
		return s, BidOutcome{Leading: true}, nil
	}
	l := s.LeaderMax
	if m.GreaterThan(l) {
		price := decimal.Max(in.Amount, decimal.Min(m, l.Add(Increment(l))))
		outbid := s.Leader
		s.Leader, s.LeaderMax = in.Bidder, m
		s.CurrentPrice = decimal.NewNullDecimal(price)
		return s, BidOutcome{Leading: true, Outbid: outbid}, nil
	}
	price := decimal.Max(s.CurrentPrice.Decimal, decimal.Min(l, m.Add(Increment(m))))
	s.CurrentPrice = decimal.NewNullDecimal(price)
	return s, BidOutcome{Leading: false}, nil
}

// meetReserve is rule 3: a leader whose maximum reaches the reserve pays at least the reserve.
func meetReserve(s State) State {
	if !s.ReservePrice.Valid || s.Leader.IsZero() {
		return s
	}
	reserve := s.ReservePrice.Decimal
	if s.LeaderMax.GreaterThanOrEqual(reserve) && s.CurrentPrice.Decimal.LessThan(reserve) {
		s.CurrentPrice = decimal.NewNullDecimal(reserve)
	}
	return s
}

// extendSoftClose moves the end of an auction that got a bid inside its soft-close window.
func extendSoftClose(s State, now time.Time) State {
	if s.ExtensionSeconds <= 0 {
		return s
	}
	// The accept time in milliseconds, as the bid's created_at is stored: an end finer than
	// the wire and the database hold accepted bids up to a millisecond after the ends_at every
	// client was shown.
	if end := wireTime(now).Add(time.Duration(s.ExtensionSeconds) * time.Second); end.After(s.EndsAt) {
		s.EndsAt = end
	}
	return s
}

// BuyNow closes the auction at its buy-now price with the buyer as winner.
func BuyNow(s State, buyer UserRef, now time.Time) (State, error) {
	if err := checkOpen(&s, now); err != nil {
		return s, err
	}
	if buyer.ID == s.Seller.ID {
		return s, Errorf(CodeOwnAuction, "you cannot buy your own auction")
	}
	if !s.BuyNowPrice.Valid {
		return s, Errorf(CodeBuyNowUnavailable, "auction %d has no buy-now price", s.ID)
	}
	if s.BidCount > 0 {
		return s, Errorf(CodeBuyNowUnavailable, "buy now is gone once the first bid is placed")
	}
	s.CurrentPrice = s.BuyNowPrice
	s.Leader, s.LeaderMax = buyer, s.BuyNowPrice.Decimal
	s.Status = StatusOpen
	s = closeWith(s, ReasonBought, now)
	// The buyer wins by paying the buy-now price, whatever a stored reserve says.
	s.Winner = buyer
	return s, nil
}

// CloseEarly is an admin's close: the winner is decided as at the end.
func CloseEarly(s State, now time.Time) (State, error) {
	if s.Finished() {
		return s, Errorf(CodeConflict, "auction %d is already %s", s.ID, s.Status)
	}
	return closeWith(s, ReasonAdmin, now), nil
}

// Cancel ends the auction without a winner.
func Cancel(s State, now time.Time) (State, error) {
	if s.Finished() {
		return s, Errorf(CodeConflict, "auction %d is already %s", s.ID, s.Status)
	}
	s.Status = StatusCancelled
	s.ClosedReason = ReasonCancelled
	s.ClosedAt = now
	s.Winner = UserRef{}
	s.Seq++
	return s, nil
}

func closeWith(s State, reason string, at time.Time) State {
	s.Status = StatusClosed
	s.ClosedReason = reason
	s.ClosedAt = at
	s.Winner = UserRef{}
	if !s.Leader.IsZero() && s.reserveMetOrAbsent() {
		s.Winner = s.Leader
	}
	s.Seq++
	return s
}

// FormatTime writes a time as the contract does: RFC 3339 in UTC with milliseconds.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// timeLayout is RFC 3339 with milliseconds, as every time in the contract is written.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"
