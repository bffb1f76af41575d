package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// The queries of a user's account page. Each is one query (the parties come along as LEFT
// JOINs, see withParties), each is served by an index of migration 0002, and each takes a
// limit so that a very active account still gets a bounded page.

// bidOn restricts a query to the auctions userID has bid on. The subquery is a scan of the
// (bidder_id, auction_id) index and the IN makes it a semi-join, so an auction with many bids by
// the same user still appears once.
func bidOn(q *gorm.DB, db *gorm.DB, userID int64) *gorm.DB {
	return q.Where("auctions.id IN (?)", db.Model(&Bid{}).Select("auction_id").Where("bidder_id = ?", userID))
}

func limitRows(q *gorm.DB, limit int) *gorm.DB {
	if limit > 0 {
		q = q.Limit(limit)
	}
	return q
}

// AuctionsBySeller returns the auctions userID sells, newest first, whatever their status.
func (s *Store) AuctionsBySeller(ctx context.Context, userID int64, limit int) ([]Auction, error) {
	q := withParties(s.db.WithContext(ctx)).
		Where("auctions.seller_id = ?", userID).
		Order("auctions.created_at DESC, auctions.id DESC")
	out := []Auction{}
	if err := limitRows(q, limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("auctions sold by user %d: %w", userID, err)
	}
	return out, nil
}

// OpenAuctionsBidOn returns the auctions userID has bid on that are open at now (the same
// effective status as ListAuctions uses), ending soonest first. Whether the user leads is
// HighBidderID == userID.
func (s *Store) OpenAuctionsBidOn(ctx context.Context, userID int64, now time.Time, limit int) ([]Auction, error) {
	now = utc(now)
	db := s.db.WithContext(ctx)
	q := bidOn(withParties(db), db, userID).
		Where("auctions.status = ? AND auctions.ends_at > ?", StatusOpen, now).
		Order("auctions.ends_at, auctions.id")
	out := []Auction{}
	if err := limitRows(q, limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("open auctions bid on by user %d: %w", userID, err)
	}
	return out, nil
}

// AuctionsWonBy returns the closed auctions userID won, by bidding or by buying, most recently
// closed first.
func (s *Store) AuctionsWonBy(ctx context.Context, userID int64, limit int) ([]Auction, error) {
	q := withParties(s.db.WithContext(ctx)).
		Where("auctions.winner_id = ? AND auctions.status = ?", userID, StatusClosed).
		Order("auctions.closed_at DESC, auctions.id DESC")
	out := []Auction{}
	if err := limitRows(q, limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("auctions won by user %d: %w", userID, err)
	}
	return out, nil
}

// AuctionsLostBy returns the closed auctions userID bid on and did not win (someone else won,
// or nobody did because the reserve was not met), most recently closed first. Cancelled
// auctions are nobody's loss and are left out.
func (s *Store) AuctionsLostBy(ctx context.Context, userID int64, limit int) ([]Auction, error) {
	db := s.db.WithContext(ctx)
	q := bidOn(withParties(db), db, userID).
		Where("auctions.status = ? AND (auctions.winner_id IS NULL OR auctions.winner_id <> ?)", StatusClosed, userID).
		Order("auctions.closed_at DESC, auctions.id DESC")
	out := []Auction{}
	if err := limitRows(q, limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("auctions lost by user %d: %w", userID, err)
	}
	return out, nil
}
