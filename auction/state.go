package auction

import (
	"time"

	"github.com/shopspring/decimal"
)

// Status is the lifecycle state of an auction.
type Status string

// The statuses of PROTOCOL.md §4.
const (
	StatusScheduled Status = "scheduled"
	StatusOpen      Status = "open"
	StatusClosed    Status = "closed"
	StatusCancelled Status = "cancelled"
)

// Closing reasons.
const (
	ReasonEnded     = "ended"
	ReasonAdmin     = "admin"
	ReasonCancelled = "cancelled"
	ReasonBought    = "bought"
)

// DefaultExtensionSeconds is the soft-close window when a seller names none.
const DefaultExtensionSeconds = 120

// UserRef names a user in an auction's state. The zero value means nobody.
type UserRef struct {
	ID   int64
	Name string
}

// IsZero reports whether u names nobody.
func (u UserRef) IsZero() bool { return u.ID == 0 }

// State is everything the engine knows about one auction: the public fields, the hidden reserve
// and leader maximum, and the seq that orders its states. It is a value: the rules return a new
// State rather than change one in place, so the actor can keep the last committed state beside
// the one it is deciding on.
type State struct {
	ID               int64
	Seller           UserRef
	Title            string
	Description      string
	Currency         string
	Status           Status
	StartingPrice    decimal.Decimal
	ReservePrice     decimal.NullDecimal
	BuyNowPrice      decimal.NullDecimal
	StartsAt         time.Time
	EndsAt           time.Time
	OriginalEndsAt   time.Time
	ExtensionSeconds int
	CurrentPrice     decimal.NullDecimal
	Leader           UserRef
	LeaderMax        decimal.Decimal
	BidCount         int
	Winner           UserRef
	ClosedReason     string
	ClosedAt         time.Time
	Seq              int64
	// Watchers counts live connections. It is public, so it is stored with the seq it
	// belongs to.
	Watchers int
}

// Finished reports whether the auction is closed or cancelled.
func (s *State) Finished() bool { return s.Status == StatusClosed || s.Status == StatusCancelled }

// ReserveMet is nil when there is no reserve, else whether the current price has reached it.
func (s *State) ReserveMet() *bool {
	if !s.ReservePrice.Valid {
		return nil
	}
	met := s.CurrentPrice.Valid && s.CurrentPrice.Decimal.GreaterThanOrEqual(s.ReservePrice.Decimal)
	return &met
}

// reserveMetOrAbsent reports whether a leader, if any, would win at the current price.
func (s *State) reserveMetOrAbsent() bool {
	met := s.ReserveMet()
	return met == nil || *met
}

// MinNextBid is the lowest amount a bidder who does not lead may bid.
func (s *State) MinNextBid() decimal.Decimal {
	if !s.CurrentPrice.Valid {
		return s.StartingPrice
	}
	return s.CurrentPrice.Decimal.Add(Increment(s.CurrentPrice.Decimal))
}

// NextDeadline is when the state next changes by itself: the start of a scheduled auction or the
// end of an open one. ok is false for a finished auction.
func (s *State) NextDeadline() (t time.Time, ok bool) {
	switch s.Status {
	case StatusScheduled:
		return s.StartsAt, true
	case StatusOpen:
		return s.EndsAt, true
	}
	return time.Time{}, false
}
