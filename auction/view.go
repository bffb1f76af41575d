package auction

import (
	"time"
)

// UserView is a user as the contract shows one: {"id", "name"}.
type UserView struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func userView(u UserRef) *UserView {
	if u.IsZero() {
		return nil
	}
	return &UserView{ID: u.ID, Name: u.Name}
}

// View is the public auction object of PROTOCOL.md §4. Amounts are strings with two decimals;
// the reserve and the leader's maximum never appear.
type View struct {
	ID               int64     `json:"id"`
	Title            string    `json:"title"`
	Description      string    `json:"description"`
	Seller           UserView  `json:"seller"`
	Status           Status    `json:"status"`
	Currency         string    `json:"currency"`
	StartingPrice    string    `json:"starting_price"`
	CurrentPrice     *string   `json:"current_price"`
	MinNextBid       string    `json:"min_next_bid"`
	BidCount         int       `json:"bid_count"`
	HighBidder       *UserView `json:"high_bidder"`
	ReserveMet       *bool     `json:"reserve_met"`
	BuyNowPrice      *string   `json:"buy_now_price"`
	StartsAt         string    `json:"starts_at"`
	EndsAt           string    `json:"ends_at"`
	ExtensionSeconds int       `json:"extension_seconds"`
	Winner           *UserView `json:"winner"`
	ClosedReason     *string   `json:"closed_reason"`
	Watchers         int       `json:"watchers"`
	Seq              int64     `json:"seq"`
	ServerTime       string    `json:"server_time"`
}

// NewView renders the public view of s at the server time now.
func NewView(s *State, now time.Time) View {
	v := View{
		ID:               s.ID,
		Title:            s.Title,
		Description:      s.Description,
		Seller:           UserView{ID: s.Seller.ID, Name: s.Seller.Name},
		Status:           s.Status,
		Currency:         s.Currency,
		StartingPrice:    FormatAmount(s.StartingPrice),
		MinNextBid:       FormatAmount(s.MinNextBid()),
		BidCount:         s.BidCount,
		HighBidder:       userView(s.Leader),
		ReserveMet:       s.ReserveMet(),
		StartsAt:         FormatTime(s.StartsAt),
		EndsAt:           FormatTime(s.EndsAt),
		ExtensionSeconds: s.ExtensionSeconds,
		Winner:           userView(s.Winner),
		Watchers:         s.Watchers,
		Seq:              s.Seq,
		ServerTime:       FormatTime(now),
	}
	if s.CurrentPrice.Valid {
		p := FormatAmount(s.CurrentPrice.Decimal)
		v.CurrentPrice = &p
	}
	if s.BuyNowPrice.Valid {
		p := FormatAmount(s.BuyNowPrice.Decimal)
		v.BuyNowPrice = &p
	}
	if s.ClosedReason != "" {
		r := s.ClosedReason
		v.ClosedReason = &r
	}
	return v
}

// Update is one public state of an auction, encoded once as the `auction` message of
// PROTOCOL.md §6 and shared by every watcher.
type Update struct {
	Seq int64
	// JSON is {"type":"auction","auction":{…}}.
	JSON []byte
	// Encoded is when the state was encoded, right after its commit: the start of its
	// delivery delay.
	Encoded time.Time
	// state is kept for Message.
	state State
}

func newUpdate(s *State, now time.Time) *Update {
	return &Update{
		Seq:     s.Seq,
		JSON:    appendMessage(make([]byte, 0, messageSizeHint(s)), "auction", s, now),
		Encoded: time.Now(),
		state:   *s,
	}
}

// Message encodes the state as a message of kind (snapshot, auction) with the server time now,
// for a client whose countdown needs a fresher time than the shared JSON has.
func (u *Update) Message(kind string, now time.Time) []byte {
	return appendMessage(make([]byte, 0, messageSizeHint(&u.state)), kind, &u.state, now)
}
