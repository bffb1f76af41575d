package e2e

// What the tests of the real binary check after a crash or a stop, read straight from the
// database and from the API: every acknowledged bid is stored as acknowledged, and every
// auction row equals what the rules give when its stored bids are replayed in order.

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// auctionPlan is one auction a test creates, with what it asked for.
type auctionPlan struct {
	Name  string
	Short bool // ends before the restart: while the server is down, or (EndsMidway) before the kill
	// EndsMidway: ends while the crowd bids, before the kill.
	EndsMidway bool
	Starting   string
	Reserve    string // "" for none
	Extension  int
	EndsAt     time.Time // as requested; whole milliseconds
	ID         int64
	Seller     account
}

func (p *auctionPlan) String() string {
	return fmt.Sprintf("auction %d (%s)", p.ID, p.Name)
}

// create posts the auction as its seller.
func (p *auctionPlan) create(t *testing.T, api *apiClient, seller account) {
	t.Helper()
	body := map[string]any{
		"title":             "e2e " + p.Name,
		"description":       "an auction of the binary tests",
		"starting_price":    p.Starting,
		"ends_at":           p.EndsAt.UTC().Format(time.RFC3339Nano),
		"extension_seconds": p.Extension,
	}
	if p.Reserve != "" {
		body["reserve_price"] = p.Reserve
	}
	var a auctionJSON
	api.must(t, 201, "POST", "/api/v1/auctions", seller.Token, body, &a)
	if a.ID == 0 || a.Status != "open" {
		t.Fatalf("e2e: created auction %s: id %d, status %q", p.Name, a.ID, a.Status)
	}
	p.ID, p.Seller = a.ID, seller
}

// openStore opens the test's database directly, as the server does (without migrating).
func openStore(t *testing.T, dbURL string) *models.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	// Errors only: the checks' big reads may be slow on a loaded machine, which is no news.
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	s, err := models.Open(ctx, models.Config{DatabaseURL: dbURL, MaxOpenConns: 4}, logger)
	if err != nil {
		t.Fatalf("e2e: open the test database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("e2e: amount %q: %v", s, err)
	}
	return d
}

func fmtNull(d decimal.NullDecimal) string {
	if !d.Valid {
		return "null"
	}
	return auction.FormatAmount(d.Decimal)
}

func fmtID(id *int64) string {
	if id == nil {
		return "none"
	}
	return "#" + strconv.FormatInt(*id, 10)
}

func fmtUser(u *userJSON) string {
	if u == nil {
		return "none"
	}
	return "#" + strconv.FormatInt(u.ID, 10)
}

func fmtRef(u auction.UserRef) string {
	if u.IsZero() {
		return "none"
	}
	return "#" + strconv.FormatInt(u.ID, 10)
}

func refPtr(u auction.UserRef) *int64 {
	if u.IsZero() {
		return nil
	}
	id := u.ID
	return &id
}

func sameID(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// checkAcksStored checks that every acknowledged bid is stored with the id, auction, bidder,
// amount, maximum, request id and leading flag it was acknowledged with, and that GET
// /api/v1/auctions/{id}/bids lists it with its amount and bidder. It returns how many failed.
func checkAcksStored(t *testing.T, ctx context.Context, store *models.Store, api *apiClient, plans []*auctionPlan, acks []ackedBid) int {
	t.Helper()
	stored := map[int64]models.Bid{}
	listed := map[int64]bidJSON{}
	for _, p := range plans {
		bids, err := store.AllBids(ctx, p.ID)
		if err != nil {
			t.Fatalf("e2e: read the bids of %s: %v", p, err)
		}
		for _, b := range bids {
			stored[b.ID] = b
		}
		var list struct {
			Bids []bidJSON `json:"bids"`
		}
		api.must(t, 200, "GET", "/api/v1/auctions/"+strconv.FormatInt(p.ID, 10)+"/bids", "", nil, &list)
		if len(list.Bids) != len(bids) {
			t.Errorf("e2e: %s: GET …/bids lists %d bids, the database holds %d", p, len(list.Bids), len(bids))
		}
		for _, b := range list.Bids {
			listed[b.ID] = b
		}
	}
	lost, seen := 0, map[int64]ackedBid{}
	for _, a := range acks {
		if prev, dup := seen[a.BidID]; dup {
			t.Errorf("e2e: bid id %d was acknowledged twice: %s and %s", a.BidID, prev, a)
		}
		seen[a.BidID] = a
		b, ok := stored[a.BidID]
		if !ok {
			lost++
			t.Errorf("e2e: LOST: acknowledged %s is not in the database", a)
			continue
		}
		wantMax := a.Amount
		if a.Max != "" {
			wantMax = a.Max
		}
		switch {
		case b.AuctionID != a.Auction || b.BidderID != a.User.ID:
			t.Errorf("e2e: acknowledged %s is stored for auction %d by user %d", a, b.AuctionID, b.BidderID)
		case !b.Amount.Equal(dec(t, a.Amount)) || !b.MaxAmount.Equal(dec(t, wantMax)):
			t.Errorf("e2e: acknowledged %s is stored with amount %s max %s", a, b.Amount, b.MaxAmount)
		case b.RequestID == nil || *b.RequestID != a.RequestID:
			t.Errorf("e2e: acknowledged %s is stored with request id %v", a, b.RequestID)
		case b.Leading != a.Leading:
			t.Errorf("e2e: acknowledged %s is stored with leading=%v", a, b.Leading)
		}
		l, ok := listed[a.BidID]
		switch {
		case !ok:
			t.Errorf("e2e: acknowledged %s is stored but GET /api/v1/auctions/%d/bids does not list it", a, a.Auction)
		case l.Bidder == nil || l.Bidder.ID != a.User.ID || !dec(t, l.Amount).Equal(dec(t, a.Amount)):
			t.Errorf("e2e: acknowledged %s is listed by GET …/bids as %s by %s", a, l.Amount, fmtUser(l.Bidder))
		}
	}
	return lost
}

// checkRefusedNotStored checks PROTOCOL.md §3 "a rejected request is not stored": no bid
// refused with any code (bid_too_low, auction_closed, unavailable…) is in the database under
// its request id.
func checkRefusedNotStored(t *testing.T, ctx context.Context, store *models.Store, plans []*auctionPlan, refused []refusedBid) {
	t.Helper()
	stored := map[string]models.Bid{}
	for _, p := range plans {
		bids, err := store.AllBids(ctx, p.ID)
		if err != nil {
			t.Fatalf("e2e: read the bids of %s: %v", p, err)
		}
		for _, b := range bids {
			if b.RequestID != nil {
				stored[requestKey(b.AuctionID, b.BidderID, *b.RequestID)] = b
			}
		}
	}
	for _, r := range refused {
		if b, ok := stored[requestKey(r.Auction, r.User.ID, r.RequestID)]; ok {
			t.Errorf("e2e: %s was refused with %s, yet it is stored as bid %d (%s max %s at %s)",
				r.sentBid, r.Code, b.ID, b.Amount, b.MaxAmount, auction.FormatTime(b.CreatedAt))
		}
	}
}

func requestKey(auctionID, bidderID int64, requestID string) string {
	return strconv.FormatInt(auctionID, 10) + "/" + strconv.FormatInt(bidderID, 10) + "/" + requestID
}

// replayResult is what the rules give for an auction's stored bids.
type replayResult struct {
	Final auction.State // after the last bid and the clock at the time of the check
	// Complete is false when the rules refused a stored bid: Final is then meaningless.
	Complete bool
	Bids     []models.Bid
	Row      *models.Auction
}

// checkReplay replays the stored bids of p in their order (seq, then id) through
// auction.PlaceBid, each at its created_at, starting from the auction as it was created, then
// applies the clock (auction.Advance at now). It checks that the rules accept every stored bid
// with the stored leading flag, that no bid was accepted at or after the auction's final
// ends_at, and that the stored row (price, leader, hidden leader maximum, bid count, ends_at,
// status, closing, winner) and the public state of GET /api/v1/auctions/{id} equal the replay.
func checkReplay(t *testing.T, ctx context.Context, store *models.Store, api *apiClient, p *auctionPlan, now time.Time) replayResult {
	t.Helper()
	row, err := store.AuctionByID(ctx, p.ID)
	if err != nil {
		t.Fatalf("e2e: read %s: %v", p, err)
	}
	bids, err := store.AllBids(ctx, p.ID)
	if err != nil {
		t.Fatalf("e2e: read the bids of %s: %v", p, err)
	}
	res := replayResult{Bids: bids, Row: row}

	// The start: the auction as created.
	if !row.OriginalEndsAt.Equal(p.EndsAt) {
		t.Errorf("e2e: %s: stored original_ends_at %s, created with ends_at %s", p, auction.FormatTime(row.OriginalEndsAt), auction.FormatTime(p.EndsAt))
	}
	if !row.StartingPrice.Equal(dec(t, p.Starting)) || row.ExtensionSeconds != p.Extension || row.SellerID != p.Seller.ID {
		t.Errorf("e2e: %s: stored starting price %s, extension %d s, seller %d; created with %s, %d s, %d",
			p, row.StartingPrice, row.ExtensionSeconds, row.SellerID, p.Starting, p.Extension, p.Seller.ID)
	}
	var reserve decimal.NullDecimal
	if p.Reserve != "" {
		reserve = decimal.NewNullDecimal(dec(t, p.Reserve))
	}
	if row.ReservePrice.Valid != reserve.Valid || !row.ReservePrice.Decimal.Equal(reserve.Decimal) {
		t.Errorf("e2e: %s: stored reserve %s, created with %s", p, fmtNull(row.ReservePrice), fmtNull(reserve))
	}
	st := auction.State{
		ID:               p.ID,
		Seller:           auction.UserRef{ID: p.Seller.ID},
		Status:           auction.StatusOpen,
		StartingPrice:    dec(t, p.Starting),
		ReservePrice:     reserve,
		StartsAt:         row.StartsAt,
		EndsAt:           p.EndsAt,
		OriginalEndsAt:   p.EndsAt,
		ExtensionSeconds: p.Extension,
	}

	var prev models.Bid
	for i, b := range bids {
		desc := fmt.Sprintf("stored bid %d (#%d of %d on %s: %s max %s by user %d at %s, seq %d, request %s)",
			b.ID, i+1, len(bids), p, b.Amount, b.MaxAmount, b.BidderID, auction.FormatTime(b.CreatedAt), b.Seq, strPtr(b.RequestID))
		if i > 0 && (b.Seq <= prev.Seq || b.CreatedAt.Before(prev.CreatedAt)) {
			t.Errorf("e2e: %s comes after bid %d (seq %d at %s): seq or time goes backwards", desc, prev.ID, prev.Seq, auction.FormatTime(prev.CreatedAt))
		}
		if b.Seq > row.Seq {
			t.Errorf("e2e: %s has a seq above the auction's stored seq %d", desc, row.Seq)
		}
		if !b.CreatedAt.Before(row.EndsAt) {
			t.Errorf("e2e: %s was accepted at or after the auction's final ends_at %s", desc, auction.FormatTime(row.EndsAt))
		}
		next, out, err := auction.PlaceBid(st, auction.BidInput{Bidder: auction.UserRef{ID: b.BidderID}, Amount: b.Amount, MaxAmount: b.MaxAmount}, b.CreatedAt)
		if err != nil {
			t.Errorf("e2e: %s is refused by the rules on replay (state before it: price %s, leader %s max %s, ends_at %s): %v",
				desc, fmtNull(st.CurrentPrice), fmtRef(st.Leader), st.LeaderMax, auction.FormatTime(st.EndsAt), err)
			return res
		}
		if out.Leading != b.Leading {
			t.Errorf("e2e: %s is stored with leading=%v; the rules say %v", desc, b.Leading, out.Leading)
		}
		st, prev = next, b
	}
	afterBids := st
	final, _ := auction.Advance(st, now)
	res.Final, res.Complete = final, true

	// The stored row against the replay.
	var leaderMax decimal.NullDecimal
	if !afterBids.Leader.IsZero() {
		leaderMax = decimal.NewNullDecimal(afterBids.LeaderMax)
	}
	wantReason := ""
	if final.ClosedReason != "" {
		wantReason = final.ClosedReason
	}
	gotReason := ""
	if row.ClosedReason != nil {
		gotReason = *row.ClosedReason
	}
	if row.CurrentPrice.Valid != afterBids.CurrentPrice.Valid || !row.CurrentPrice.Decimal.Equal(afterBids.CurrentPrice.Decimal) ||
		!sameID(row.HighBidderID, refPtr(afterBids.Leader)) ||
		row.LeaderMax.Valid != leaderMax.Valid || !row.LeaderMax.Decimal.Equal(leaderMax.Decimal) ||
		row.BidCount != afterBids.BidCount || !row.EndsAt.Equal(afterBids.EndsAt) ||
		row.Status != string(final.Status) || gotReason != wantReason || !sameID(row.WinnerID, refPtr(final.Winner)) {
		t.Errorf("e2e: %s: the stored row differs from the replay of its %d stored bids:\n"+
			"  stored: price %s, leader %s, leader max %s, bid count %d, ends_at %s, status %s, closed_reason %q, winner %s\n"+
			"  replay: price %s, leader %s, leader max %s, bid count %d, ends_at %s, status %s, closed_reason %q, winner %s",
			p, len(bids),
			fmtNull(row.CurrentPrice), fmtID(row.HighBidderID), fmtNull(row.LeaderMax), row.BidCount, auction.FormatTime(row.EndsAt), row.Status, gotReason, fmtID(row.WinnerID),
			fmtNull(afterBids.CurrentPrice), fmtRef(afterBids.Leader), fmtNull(leaderMax), afterBids.BidCount, auction.FormatTime(afterBids.EndsAt), final.Status, wantReason, fmtRef(final.Winner))
	}

	// The public state against the replay.
	var v auctionJSON
	api.must(t, 200, "GET", "/api/v1/auctions/"+strconv.FormatInt(p.ID, 10), "", nil, &v)
	wantPrice := "null"
	if afterBids.CurrentPrice.Valid {
		wantPrice = auction.FormatAmount(afterBids.CurrentPrice.Decimal)
	}
	gotPrice := "null"
	if v.CurrentPrice != nil {
		gotPrice = *v.CurrentPrice
	}
	gotAPIReason := ""
	if v.ClosedReason != nil {
		gotAPIReason = *v.ClosedReason
	}
	wantMet, gotMet := "null", "null"
	if m := final.ReserveMet(); m != nil {
		wantMet = strconv.FormatBool(*m)
	}
	if v.ReserveMet != nil {
		gotMet = strconv.FormatBool(*v.ReserveMet)
	}
	wantHigh, wantWinner := fmtRef(afterBids.Leader), fmtRef(final.Winner)
	if gotPrice != wantPrice || fmtUser(v.HighBidder) != wantHigh || v.BidCount != afterBids.BidCount ||
		v.EndsAt != auction.FormatTime(afterBids.EndsAt) || v.Status != string(final.Status) ||
		gotAPIReason != wantReason || fmtUser(v.Winner) != wantWinner || gotMet != wantMet {
		t.Errorf("e2e: %s: GET /api/v1/auctions/%d differs from the replay of its %d stored bids:\n"+
			"  API:    price %s, high bidder %s, bid count %d, ends_at %s, status %s, closed_reason %q, winner %s, reserve_met %s\n"+
			"  replay: price %s, high bidder %s, bid count %d, ends_at %s, status %s, closed_reason %q, winner %s, reserve_met %s",
			p, p.ID, len(bids),
			gotPrice, fmtUser(v.HighBidder), v.BidCount, v.EndsAt, v.Status, gotAPIReason, fmtUser(v.Winner), gotMet,
			wantPrice, wantHigh, afterBids.BidCount, auction.FormatTime(afterBids.EndsAt), final.Status, wantReason, wantWinner, wantMet)
	}
	return res
}

func strPtr(s *string) string {
	if s == nil {
		return "none"
	}
	return strconv.Quote(*s)
}

// acksByAuction groups acknowledgements by auction, each in the order they were acknowledged.
func acksByAuction(acks []ackedBid) map[int64][]ackedBid {
	out := map[int64][]ackedBid{}
	for _, a := range acks {
		out[a.Auction] = append(out[a.Auction], a)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].AckAt.Before(list[j].AckAt) })
	}
	return out
}
