package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// Photo is one picture of an auction. The file itself lives in the upload directory under
// FileName; the row is what makes a name servable and says what the file is, as sniffed from
// its content when it was uploaded, so that serving it never has to guess.
type Photo struct {
	ID          int64 `gorm:"primaryKey"`
	AuctionID   int64
	FileName    string
	ContentType string
	// Position orders an auction's photos from 0, in the order the seller gave them; the
	// first is the auction's thumbnail.
	Position  int `gorm:"column:position"`
	CreatedAt time.Time
}

// CreatePhotos inserts photos (all in one statement, so either all are stored or none) and
// fills their IDs. Nothing happens for an empty slice. A file name or an (auction, position)
// already stored gives ErrDuplicate.
func (s *Store) CreatePhotos(ctx context.Context, photos []Photo) error {
	if len(photos) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Omit(clause.Associations).Create(&photos).Error
	if isUniqueViolation(err) {
		return fmt.Errorf("create photos: %w", ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("create %d photos for auction %d: %w", len(photos), photos[0].AuctionID, err)
	}
	return nil
}

// PhotosByAuction returns the auction's photos in position order.
func (s *Store) PhotosByAuction(ctx context.Context, auctionID int64) ([]Photo, error) {
	out := []Photo{}
	err := s.db.WithContext(ctx).Where("auction_id = ?", auctionID).Order("position").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("photos of auction %d: %w", auctionID, err)
	}
	return out, nil
}

// FirstPhotos returns the first photo (position 0) of each of the auctions that has one, keyed
// by auction id: one query for a whole list page, served by the (auction_id, position) index.
func (s *Store) FirstPhotos(ctx context.Context, auctionIDs []int64) (map[int64]Photo, error) {
	out := make(map[int64]Photo, len(auctionIDs))
	if len(auctionIDs) == 0 {
		return out, nil
	}
	var rows []Photo
	err := s.db.WithContext(ctx).Where("auction_id IN ? AND position = 0", auctionIDs).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("first photos of %d auctions: %w", len(auctionIDs), err)
	}
	for _, p := range rows {
		out[p.AuctionID] = p
	}
	return out, nil
}

// PhotoByFileName finds a stored photo by its file name, or returns ErrNotFound.
func (s *Store) PhotoByFileName(ctx context.Context, name string) (*Photo, error) {
	var p Photo
	err := s.db.WithContext(ctx).Where("file_name = ?", name).Take(&p).Error
	if isRecordNotFound(err) {
		return nil, fmt.Errorf("photo %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("photo %q: %w", name, err)
	}
	return &p, nil
}
