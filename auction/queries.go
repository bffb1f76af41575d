package auction

import (
	"context"
	"errors"
	"fmt"

	"auctionhouse/models"
)

// MaxListLimit is the most auctions one list answer holds; larger limits are clamped.
const MaxListLimit = 200

// DefaultListLimit applies when a list names no limit.
const DefaultListLimit = 50

// ListOptions selects auctions for a list.
type ListOptions struct {
	// Status is "" for all, or one of the statuses, as of now.
	Status Status
	Limit  int
	Offset int
}

// List returns auctions newest first, straight from the database: stored state is committed
// state, so it matches what the actors broadcast. Watcher counts come from running actors.
func (e *Engine) List(ctx context.Context, opts ListOptions) ([]View, error) {
	switch opts.Status {
	case "", StatusScheduled, StatusOpen, StatusClosed, StatusCancelled:
	default:
		return nil, Errorf(CodeInvalidRequest, "status must be scheduled, open, closed or cancelled")
	}
	if opts.Limit <= 0 {
		opts.Limit = DefaultListLimit
	}
	opts.Limit = min(opts.Limit, MaxListLimit)
	opts.Offset = max(opts.Offset, 0)
	now := e.opts.Now().UTC()
	rows, err := e.store.ListAuctions(ctx, models.ListFilter{Status: string(opts.Status), Limit: opts.Limit, Offset: opts.Offset, Now: now})
	if err != nil {
		return nil, fmt.Errorf("list auctions: %w", err)
	}
	views := make([]View, len(rows))
	for i := range rows {
		s := e.displayState(&rows[i])
		views[i] = NewView(&s, now)
	}
	return views, nil
}

// displayState is a stored auction as it stands now: the clock may have opened or ended it a
// moment before its actor or the sweeper stores that. Seq stays the stored one, since nothing
// new was stored.
func (e *Engine) displayState(row *models.Auction) State {
	s := stateFromRow(row)
	seq := s.Seq
	s, _ = Advance(s, e.opts.Now().UTC())
	s.Seq = seq
	e.mu.RLock()
	if a, ok := e.actors[row.ID]; ok {
		s.Watchers = int(a.watchers.Load())
	}
	e.mu.RUnlock()
	return s
}

// BidView is one accepted bid as the contract lists it: the amount as submitted, never the
// maximum.
type BidView struct {
	ID        int64    `json:"id"`
	Bidder    UserView `json:"bidder"`
	Amount    string   `json:"amount"`
	CreatedAt string   `json:"created_at"`
}

// Bids lists an auction's accepted bids, newest first.
func (e *Engine) Bids(ctx context.Context, auctionID int64, limit, offset int) ([]BidView, error) {
	if _, err := e.store.AuctionByID(ctx, auctionID); err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return nil, Errorf(CodeNotFound, "auction %d not found", auctionID)
		}
		return nil, fmt.Errorf("find auction %d: %w", auctionID, err)
	}
	bids, err := e.store.BidsByAuction(ctx, auctionID, limit, max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("list bids of auction %d: %w", auctionID, err)
	}
	views := make([]BidView, len(bids))
	for i, b := range bids {
		views[i] = bidView(b, b.Bidder.Username)
	}
	return views, nil
}

func bidView(b models.Bid, bidderName string) BidView {
	return BidView{
		ID:        b.ID,
		Bidder:    UserView{ID: b.BidderID, Name: bidderName},
		Amount:    FormatAmount(b.Amount),
		CreatedAt: FormatTime(b.CreatedAt),
	}
}

// RecentBids is how many of the newest bids an actor keeps for the auction page.
const RecentBids = 20

// Page is what the auction page shows.
type Page struct {
	View View
	// Bids are the newest bids, newest first, at most RecentBids.
	Bids []BidView
	// Photos are in the seller's order; they never change once the auction exists.
	Photos []models.Photo
}

// Page returns the auction page's content from the actor's memory, loaded once when the actor
// starts and kept current at each commit: a page view costs no query.
func (e *Engine) Page(ctx context.Context, auctionID int64) (Page, error) {
	r, err := e.call(ctx, auctionID, command{kind: cmdPage})
	if err != nil {
		return Page{}, err
	}
	return Page{View: NewView(&r.state, r.at), Bids: r.recent, Photos: r.photos}, nil
}
