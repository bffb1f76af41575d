// Package models holds the GORM models, the versioned migrations and the Store: the queries and
// transactions the engine and the handlers need. It knows nothing of actors or HTTP.
package models

import (
	"time"

	"github.com/shopspring/decimal"
)

// Auction statuses as stored in auctions.status.
const (
	StatusScheduled = "scheduled"
	StatusOpen      = "open"
	StatusClosed    = "closed"
	StatusCancelled = "cancelled"
)

// User is an account. Username keeps the case it was created with; uniqueness ignores case.
type User struct {
	ID           int64 `gorm:"primaryKey"`
	Username     string
	PasswordHash string
	Admin        bool
	CreatedAt    time.Time
}

// Session is a signed-in session. Only the SHA-256 of its token is stored, so a leaked
// database does not leak usable tokens.
type Session struct {
	ID        int64 `gorm:"primaryKey"`
	TokenHash string
	UserID    int64
	User      User   `gorm:"foreignKey:UserID"`
	CSRFToken string `gorm:"column:csrf_token"`
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Auction is one auction row: its public fields, its hidden reserve and leader maximum, and the
// sequence number that both orders its public states and guards conditional updates.
type Auction struct {
	ID               int64 `gorm:"primaryKey"`
	SellerID         int64
	Seller           User `gorm:"foreignKey:SellerID"`
	Title            string
	Description      string
	Currency         string
	StartingPrice    decimal.Decimal
	ReservePrice     decimal.NullDecimal
	BuyNowPrice      decimal.NullDecimal
	StartsAt         time.Time
	EndsAt           time.Time
	OriginalEndsAt   time.Time
	ExtensionSeconds int
	Status           string
	CurrentPrice     decimal.NullDecimal
	HighBidderID     *int64
	HighBidder       *User `gorm:"foreignKey:HighBidderID"`
	LeaderMax        decimal.NullDecimal
	BidCount         int
	WinnerID         *int64
	Winner           *User `gorm:"foreignKey:WinnerID"`
	ClosedReason     *string
	ClosedAt         *time.Time
	Seq              int64
	// Watchers is the count of live connections in the state of Seq.
	Watchers  int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Bid is one accepted bid. RequestID is unique per bidder and auction when present; Leading is
// the answer the bidder got, kept so that a repeated request is answered the same way. Seq is the
// auction's seq right after this bid, which orders the bids of one auction.
type Bid struct {
	ID        int64 `gorm:"primaryKey"`
	AuctionID int64
	BidderID  int64
	Bidder    User `gorm:"foreignKey:BidderID"`
	Amount    decimal.Decimal
	MaxAmount decimal.Decimal
	RequestID *string
	Leading   bool
	Seq       int64
	CreatedAt time.Time
}
