package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// DefaultCurrency is stored when an auction is created without a currency.
const DefaultCurrency = "USD"

// ListFilter selects and pages auctions for ListAuctions.
type ListFilter struct {
	// Status is the effective status at Now: StatusOpen, StatusScheduled, StatusClosed,
	// StatusCancelled, or "" for all. Effective, because a row keeps its stored status until
	// the engine gets round to opening or closing it, while readers must see the clock's truth.
	Status string
	// Limit caps the number of rows; zero or less means no cap (callers clamp user input).
	Limit int
	// Offset skips that many rows of the ordered result.
	Offset int
	// Now is the instant the status is evaluated at; zero means time.Now().
	Now time.Time
}

// CreateAuction inserts a (its Seller, HighBidder and Winner are not written) and fills its
// ID and timestamps. An empty Currency becomes DefaultCurrency and a zero OriginalEndsAt becomes
// EndsAt, on a as well.
func (s *Store) CreateAuction(ctx context.Context, a *Auction) error {
	switch a.Status {
	case StatusScheduled, StatusOpen, StatusClosed, StatusCancelled:
	default:
		return fmt.Errorf("create auction: invalid status %q", a.Status)
	}
	if a.Currency == "" {
		a.Currency = DefaultCurrency
	}
	if a.OriginalEndsAt.IsZero() {
		a.OriginalEndsAt = a.EndsAt
	}
	if err := s.db.WithContext(ctx).Omit(clause.Associations).Create(a).Error; err != nil {
		return fmt.Errorf("create auction %q: %w", a.Title, err)
	}
	return nil
}

// withParties loads the seller, high bidder and winner in the same query as the auction
// (LEFT JOINs) instead of one round trip per relation. Filters must qualify columns with
// "auctions." since the joined users have id and created_at too.
func withParties(db *gorm.DB) *gorm.DB {
	return db.Joins("Seller").Joins("HighBidder").Joins("Winner")
}

// AuctionByID returns the auction with its Seller, HighBidder and Winner loaded, or
// ErrNotFound.
func (s *Store) AuctionByID(ctx context.Context, id int64) (*Auction, error) {
	var a Auction
	err := withParties(s.db.WithContext(ctx)).Where("auctions.id = ?", id).Take(&a).Error
	if isRecordNotFound(err) {
		return nil, fmt.Errorf("auction %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("auction %d: %w", id, err)
	}
	return &a, nil
}

// ListAuctions returns the auctions matching f, newest first (created_at, then id, descending),
// with their Seller, HighBidder and Winner loaded. An unknown f.Status is an error.
func (s *Store) ListAuctions(ctx context.Context, f ListFilter) ([]Auction, error) {
	now := f.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = utc(now)
	q := withParties(s.db.WithContext(ctx))
	// The conditions partition all rows: every auction has exactly one effective status
	// (ends_at > starts_at is an invariant of creation, hence the redundant-looking
	// ends_at > ? on scheduled, which keeps the partition exact even for bad rows).
	switch f.Status {
	case "":
	case StatusOpen:
		q = q.Where("(auctions.status = ? OR (auctions.status = ? AND auctions.starts_at <= ?)) AND auctions.ends_at > ?",
			StatusOpen, StatusScheduled, now, now)
	case StatusScheduled:
		q = q.Where("auctions.status = ? AND auctions.starts_at > ? AND auctions.ends_at > ?",
			StatusScheduled, now, now)
	case StatusClosed:
		q = q.Where("(auctions.status = ? OR (auctions.status IN (?, ?) AND auctions.ends_at <= ?))",
			StatusClosed, StatusOpen, StatusScheduled, now)
	case StatusCancelled:
		q = q.Where("auctions.status = ?", StatusCancelled)
	default:
		return nil, fmt.Errorf("list auctions: unknown status filter %q", f.Status)
	}
	q = q.Order("auctions.created_at DESC, auctions.id DESC")
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	if f.Offset > 0 {
		q = q.Offset(f.Offset)
	}
	out := []Auction{}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list auctions (status %q): %w", f.Status, err)
	}
	return out, nil
}

// DueAuctionIDs returns, in id order, the auctions whose stored status lags the clock at now:
// scheduled ones whose start has come, and scheduled or open ones whose end has come. The
// engine opens or closes them.
func (s *Store) DueAuctionIDs(ctx context.Context, now time.Time) ([]int64, error) {
	now = utc(now)
	ids := []int64{}
	err := s.db.WithContext(ctx).Model(&Auction{}).
		Where("(status = ? AND starts_at <= ?) OR (status IN (?, ?) AND ends_at <= ?)",
			StatusScheduled, now, StatusScheduled, StatusOpen, now).
		Order("id").
		Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("due auctions: %w", err)
	}
	return ids, nil
}
