package auction_test

// These tests are written from PROTOCOL.md §3, not from rules.go: each expected price is worked
// out by hand from the contract's formulas, so a change of the rules that breaks the contract
// fails here.

import (
	"reflect"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/auction"
)

// rtDec builds money from its text; test data is written as the wire writes it.
func rtDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// rtNull is an optional amount: "" is none.
func rtNull(s string) decimal.NullDecimal {
	if s == "" {
		return decimal.NullDecimal{}
	}
	return decimal.NewNullDecimal(rtDec(s))
}

var (
	rtSeller = auction.UserRef{ID: 1, Name: "sam"}
	rtAlice  = auction.UserRef{ID: 2, Name: "alice"}
	rtBob    = auction.UserRef{ID: 3, Name: "bob"}
	rtCarol  = auction.UserRef{ID: 4, Name: "carol"}
	rtNobody = auction.UserRef{}

	rtStart = time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	rtEnd   = rtStart.Add(24 * time.Hour)
)

// rtOpen is an open auction starting at 10.00 that ends in a day, with the default soft close.
func rtOpen() auction.State {
	return auction.State{
		ID:               7,
		Seller:           rtSeller,
		Title:            "lamp",
		Currency:         "USD",
		Status:           auction.StatusOpen,
		StartingPrice:    rtDec("10.00"),
		StartsAt:         rtStart,
		EndsAt:           rtEnd,
		OriginalEndsAt:   rtEnd,
		ExtensionSeconds: auction.DefaultExtensionSeconds,
		Seq:              5,
	}
}

// rtBid places a bid of amount with an optional maximum ("" is none).
func rtBid(t *testing.T, s auction.State, who auction.UserRef, amount, max string, now time.Time) (auction.State, auction.BidOutcome, error) {
	t.Helper()
	in := auction.BidInput{Bidder: who, Amount: rtDec(amount)}
	if max != "" {
		in.MaxAmount = rtDec(max)
	}
	return auction.PlaceBid(s, in, now)
}

// rtMustBid places a bid that must be accepted.
func rtMustBid(t *testing.T, s auction.State, who auction.UserRef, amount, max string, now time.Time) auction.State {
	t.Helper()
	next, _, err := rtBid(t, s, who, amount, max, now)
	if err != nil {
		t.Fatalf("bid %s (max %q) by %s: %v", amount, max, who.Name, err)
	}
	return next
}

func rtCode(err error) auction.Code {
	if err == nil {
		return ""
	}
	return auction.ErrorCode(err)
}

func rtPrice(s auction.State) string {
	if !s.CurrentPrice.Valid {
		return ""
	}
	return auction.FormatAmount(s.CurrentPrice.Decimal)
}

func rtWantPrice(t *testing.T, s auction.State, want string) {
	t.Helper()
	if want == "" {
		if s.CurrentPrice.Valid {
			t.Errorf("current price = %s, want none", rtPrice(s))
		}
		return
	}
	if !s.CurrentPrice.Valid || !s.CurrentPrice.Decimal.Equal(rtDec(want)) {
		t.Errorf("current price = %q, want %s", rtPrice(s), want)
	}
}

// rtWantUnchanged checks that a rejected command left the state exactly as it was.
func rtWantUnchanged(t *testing.T, before, after auction.State) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("rejected command changed the state:\nbefore %+v\nafter  %+v", before, after)
	}
}

func TestIncrementTable(t *testing.T) {
	tests := []struct{ price, want string }{
		{"0.01", "0.05"},
		{"0.50", "0.05"},
		{"0.99", "0.05"},
		{"1.00", "0.25"},
		{"4.99", "0.25"},
		{"5.00", "0.50"},
		{"24.99", "0.50"},
		{"25.00", "1.00"},
		{"99.99", "1.00"},
		{"100.00", "2.50"},
		{"249.99", "2.50"},
		{"250.00", "5.00"},
		{"499.99", "5.00"},
		{"500.00", "10.00"},
		{"999.99", "10.00"},
		{"1000.00", "25.00"},
		{"2499.99", "25.00"},
		{"2500.00", "50.00"},
		{"4999.99", "50.00"},
		{"5000.00", "100.00"},
		{"5000.01", "100.00"},
		{"123456.78", "100.00"},
		{"999999999999.99", "100.00"},
		{"1", "0.25"}, // the value decides, not how many digits it was written with
		{"5.0", "0.50"},
	}
	for _, tt := range tests {
		t.Run(tt.price, func(t *testing.T) {
			if got := auction.Increment(rtDec(tt.price)); !got.Equal(rtDec(tt.want)) {
				t.Errorf("Increment(%s) = %s, want %s", tt.price, got, tt.want)
			}
		})
	}
}

func TestMinNextBid(t *testing.T) {
	tests := []struct {
		name, start, reserve, price, want string
	}{
		{"no bid is the starting price", "10.00", "", "", "10.00"},
		{"no bid ignores the reserve", "10.00", "500.00", "", "10.00"},
		{"price 12.50", "10.00", "", "12.50", "13.00"},
		{"price 0.95 crosses into the next row", "0.50", "", "0.95", "1.00"},
		{"price 0.99", "0.50", "", "0.99", "1.04"},
		{"price 4.99", "1.00", "", "4.99", "5.24"},
		{"price 5.00", "1.00", "", "5.00", "5.50"},
		{"price 99.99", "1.00", "", "99.99", "100.99"},
		{"price 100.00", "1.00", "", "100.00", "102.50"},
		{"price 4999.99", "1.00", "", "4999.99", "5049.99"},
		{"price 5000.00", "1.00", "", "5000.00", "5100.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rtOpen()
			s.StartingPrice = rtDec(tt.start)
			s.ReservePrice = rtNull(tt.reserve)
			s.CurrentPrice = rtNull(tt.price)
			if tt.price != "" {
				s.Leader, s.LeaderMax, s.BidCount = rtAlice, rtDec(tt.price), 1
			}
			if got := s.MinNextBid(); !got.Equal(rtDec(tt.want)) {
				t.Errorf("MinNextBid = %s, want %s", got, tt.want)
			}
		})
	}
}

// rtStep is one bid of a proxy-bidding sequence and the state expected after it, whether the bid
// was accepted or not.
type rtStep struct {
	who         auction.UserRef
	amount, max string
	code        auction.Code // "" when the bid must be accepted
	price       string
	leader      auction.UserRef
	leaderMax   string
	leading     bool
	outbid      auction.UserRef
}

func TestRulesProxySequences(t *testing.T) {
	tests := []struct {
		name  string
		start string // starting price; 10.00 when ""
		steps []rtStep
	}{
		{
			name: "a lower maximum pushes the price to M+increment(M), capped at L",
			steps: []rtStep{
				{who: rtAlice, amount: "10.00", max: "50.00", price: "10.00", leader: rtAlice, leaderMax: "50.00", leading: true},
				// M=30 < L=50: min(50, 30+1) = 31.
				{who: rtBob, amount: "20.00", max: "30.00", price: "31.00", leader: rtAlice, leaderMax: "50.00"},
				// min next is 32; M=49.50: min(50, 49.50+1) = 50, the cap.
				{who: rtBob, amount: "32.00", max: "49.50", price: "50.00", leader: rtAlice, leaderMax: "50.00"},
				// min next is 50+1 = 51.
				{who: rtCarol, amount: "50.00", code: auction.CodeBidTooLow, price: "50.00", leader: rtAlice, leaderMax: "50.00"},
				// M=51 > L=50: max(51, min(51, 50+1)) = 51.
				{who: rtCarol, amount: "51.00", price: "51.00", leader: rtCarol, leaderMax: "51.00", leading: true, outbid: rtAlice},
			},
		},
		{
			name: "a higher maximum takes the lead at L+increment(L), capped at M",
			steps: []rtStep{
				{who: rtAlice, amount: "10.00", max: "100.00", price: "10.00", leader: rtAlice, leaderMax: "100.00", leading: true},
				// M=500 > L=100: max(15, min(500, 100+2.50)) = 102.50.
				{who: rtBob, amount: "15.00", max: "500.00", price: "102.50", leader: rtBob, leaderMax: "500.00", leading: true, outbid: rtAlice},
				// min next 105; M=501 > L=500: max(105, min(501, 500+10)) = 501, capped at M.
				{who: rtAlice, amount: "105.00", max: "501.00", price: "501.00", leader: rtAlice, leaderMax: "501.00", leading: true, outbid: rtBob},
				// min next is 501+10 = 511.
				{who: rtCarol, amount: "510.00", max: "900.00", code: auction.CodeBidTooLow, price: "501.00", leader: rtAlice, leaderMax: "501.00"},
				{who: rtCarol, amount: "511.00", max: "900.00", price: "511.00", leader: rtCarol, leaderMax: "900.00", leading: true, outbid: rtAlice},
			},
		},
		{
			name: "an amount above L+increment(L) sets the price itself",
			steps: []rtStep{
				{who: rtAlice, amount: "10.00", max: "20.00", price: "10.00", leader: rtAlice, leaderMax: "20.00", leading: true},
				// M=40 > L=20: max(40, min(40, 20+0.50)) = 40.
				{who: rtBob, amount: "40.00", price: "40.00", leader: rtBob, leaderMax: "40.00", leading: true, outbid: rtAlice},
				// min next 41; M=45 > L=40: max(41, min(45, 40+1)) = 41.
				{who: rtAlice, amount: "41.00", max: "45.00", price: "41.00", leader: rtAlice, leaderMax: "45.00", leading: true, outbid: rtBob},
				// M=200 > L=45: max(100, min(200, 46)) = 100.
				{who: rtCarol, amount: "100.00", max: "200.00", price: "100.00", leader: rtCarol, leaderMax: "200.00", leading: true, outbid: rtAlice},
			},
		},
		{
			name: "at equal maximums the earlier bid keeps the lead",
			steps: []rtStep{
				{who: rtAlice, amount: "10.00", max: "30.00", price: "10.00", leader: rtAlice, leaderMax: "30.00", leading: true},
				// M=L=30: the leader stays and the price is min(30, 30+1) = 30.
				{who: rtBob, amount: "12.00", max: "30.00", price: "30.00", leader: rtAlice, leaderMax: "30.00"},
				// min next 31; M=31 > L=30: max(31, min(31, 31)) = 31.
				{who: rtCarol, amount: "31.00", price: "31.00", leader: rtCarol, leaderMax: "31.00", leading: true, outbid: rtAlice},
				// min next 32; M=40 > L=31: max(32, min(40, 32)) = 32.
				{who: rtAlice, amount: "32.00", max: "40.00", price: "32.00", leader: rtAlice, leaderMax: "40.00", leading: true, outbid: rtCarol},
				// Exactly alice's maximum again: alice keeps the lead at 40.
				{who: rtBob, amount: "33.00", max: "40.00", price: "40.00", leader: rtAlice, leaderMax: "40.00"},
			},
		},
		{
			name: "the leader may only raise its own maximum",
			steps: []rtStep{
				{who: rtAlice, amount: "10.00", max: "20.00", price: "10.00", leader: rtAlice, leaderMax: "20.00", leading: true},
				// M=15 < L=20: min(20, 15+0.50) = 15.50.
				{who: rtBob, amount: "12.00", max: "15.00", price: "15.50", leader: rtAlice, leaderMax: "20.00"},
				// A raise: accepted, the price does not move.
				{who: rtAlice, amount: "16.00", max: "25.00", price: "15.50", leader: rtAlice, leaderMax: "25.00", leading: true},
				// Not a raise (M=17 <= 25), although above the minimum next bid.
				{who: rtAlice, amount: "17.00", code: auction.CodeBidTooLow, price: "15.50", leader: rtAlice, leaderMax: "25.00"},
				// Equal to its maximum is not a raise either.
				{who: rtAlice, amount: "25.00", max: "25.00", code: auction.CodeBidTooLow, price: "15.50", leader: rtAlice, leaderMax: "25.00"},
				// Rule 2 asks only for a higher maximum; the minimum next bid binds those who do not lead.
				{who: rtAlice, amount: "10.00", max: "26.00", price: "15.50", leader: rtAlice, leaderMax: "26.00", leading: true},
				// min next 16; M=17 < L=26: max(15.50, min(26, 17.50)) = 17.50.
				{who: rtBob, amount: "16.00", max: "17.00", price: "17.50", leader: rtAlice, leaderMax: "26.00"},
			},
		},
		{
			name: "amounts below the minimum next bid and malformed bids",
			steps: []rtStep{
				{who: rtAlice, amount: "9.99", code: auction.CodeBidTooLow},
				{who: rtAlice, amount: "10.00", price: "10.00", leader: rtAlice, leaderMax: "10.00", leading: true},
				// min next 10.50.
				{who: rtBob, amount: "10.25", max: "99.00", code: auction.CodeBidTooLow, price: "10.00", leader: rtAlice, leaderMax: "10.00"},
				{who: rtBob, amount: "10.50", price: "10.50", leader: rtBob, leaderMax: "10.50", leading: true, outbid: rtAlice},
				// A maximum below the amount is invalid_amount, before any other rule.
				{who: rtAlice, amount: "12.00", max: "11.00", code: auction.CodeInvalidAmount, price: "10.50", leader: rtBob, leaderMax: "10.50"},
				{who: rtAlice, amount: "0", code: auction.CodeInvalidAmount, price: "10.50", leader: rtBob, leaderMax: "10.50"},
				{who: rtAlice, amount: "-11.00", code: auction.CodeInvalidAmount, price: "10.50", leader: rtBob, leaderMax: "10.50"},
				// A maximum equal to the amount is the same as none.
				{who: rtAlice, amount: "11.00", max: "11.00", price: "11.00", leader: rtAlice, leaderMax: "11.00", leading: true, outbid: rtBob},
			},
		},
		{
			name:  "prices crossing rows of the increment table",
			start: "0.50",
			steps: []rtStep{
				{who: rtAlice, amount: "0.50", max: "0.97", price: "0.50", leader: rtAlice, leaderMax: "0.97", leading: true},
				// M=0.96 < L=0.97: min(0.97, 0.96+0.05) = 0.97.
				{who: rtBob, amount: "0.55", max: "0.96", price: "0.97", leader: rtAlice, leaderMax: "0.97"},
				// min next 0.97+0.05 = 1.02; M=3 > L=0.97: max(1.02, min(3, 1.02)) = 1.02.
				{who: rtBob, amount: "1.01", max: "3.00", code: auction.CodeBidTooLow, price: "0.97", leader: rtAlice, leaderMax: "0.97"},
				{who: rtBob, amount: "1.02", max: "3.00", price: "1.02", leader: rtBob, leaderMax: "3.00", leading: true, outbid: rtAlice},
				// min next 1.27; M=4.99 > L=3: max(1.27, min(4.99, 3+0.25)) = 3.25.
				{who: rtAlice, amount: "1.27", max: "4.99", price: "3.25", leader: rtAlice, leaderMax: "4.99", leading: true, outbid: rtBob},
				// min next 3.50; M=4.98 < L=4.99: min(4.99, 4.98+0.25) = 4.99.
				{who: rtCarol, amount: "3.50", max: "4.98", price: "4.99", leader: rtAlice, leaderMax: "4.99"},
				// min next 5.24; M=5000 > L=4.99: max(5.24, min(5000, 4.99+0.25)) = 5.24.
				{who: rtCarol, amount: "5.24", max: "5000.00", price: "5.24", leader: rtCarol, leaderMax: "5000.00", leading: true, outbid: rtAlice},
				// min next 5.74; M=6000 > L=5000: max(5.74, min(6000, 5000+100)) = 5100.
				{who: rtBob, amount: "5.74", max: "6000.00", price: "5100.00", leader: rtBob, leaderMax: "6000.00", leading: true, outbid: rtCarol},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rtOpen()
			if tt.start != "" {
				s.StartingPrice = rtDec(tt.start)
			}
			accepted := 0
			for i, st := range tt.steps {
				now := rtStart.Add(time.Duration(i+1) * time.Minute)
				before := s
				next, out, err := rtBid(t, s, st.who, st.amount, st.max, now)
				if got := rtCode(err); got != st.code {
					t.Fatalf("step %d (%s bids %s max %q): error %v, want code %q", i+1, st.who.Name, st.amount, st.max, err, st.code)
				}
				if err != nil {
					rtWantUnchanged(t, before, next)
				} else {
					accepted++
					if next.Seq <= before.Seq {
						t.Errorf("step %d: seq %d after %d, want it to grow", i+1, next.Seq, before.Seq)
					}
				}
				rtWantPrice(t, next, st.price)
				if next.Leader != st.leader {
					t.Errorf("step %d: leader %+v, want %+v", i+1, next.Leader, st.leader)
				}
				if st.leaderMax != "" && !next.LeaderMax.Equal(rtDec(st.leaderMax)) {
					t.Errorf("step %d: leader max %s, want %s", i+1, next.LeaderMax, st.leaderMax)
				}
				if out.Leading != st.leading {
					t.Errorf("step %d: leading %v, want %v", i+1, out.Leading, st.leading)
				}
				if out.Outbid != st.outbid {
					t.Errorf("step %d: outbid %+v, want %+v", i+1, out.Outbid, st.outbid)
				}
				if next.BidCount != accepted {
					t.Errorf("step %d: bid count %d, want %d", i+1, next.BidCount, accepted)
				}
				if next.EndsAt != rtEnd {
					t.Errorf("step %d: ends_at moved to %s far from the end", i+1, next.EndsAt)
				}
				s = next
			}
		})
	}
}

func TestReserve(t *testing.T) {
	type bid struct {
		who         auction.UserRef
		amount, max string
	}
	tests := []struct {
		name    string
		reserve string
		bids    []bid
		price   string
		met     *bool // nil: no reserve
	}{
		{"no reserve: reserve_met is nil", "", []bid{{rtAlice, "10.00", ""}}, "10.00", nil},
		{"no reserve and no bid", "", nil, "", nil},
		{"reserve and no bid: not met", "100.00", nil, "", rtBool(false)},
		{"not met below the reserve", "100.00", []bid{{rtAlice, "50.00", ""}}, "50.00", rtBool(false)},
		{"maximum below the reserve: no jump", "100.00", []bid{{rtAlice, "10.00", "99.99"}}, "10.00", rtBool(false)},
		{"first bid whose maximum exceeds the reserve jumps to it", "100.00", []bid{{rtAlice, "10.00", "150.00"}}, "100.00", rtBool(true)},
		{"maximum exactly the reserve jumps to it", "100.00", []bid{{rtAlice, "10.00", "100.00"}}, "100.00", rtBool(true)},
		{"amount exactly the reserve", "100.00", []bid{{rtAlice, "100.00", ""}}, "100.00", rtBool(true)},
		{"amount above the reserve keeps its price", "100.00", []bid{{rtAlice, "120.00", ""}}, "120.00", rtBool(true)},
		{
			// M=200 > L=99.99: max(20, min(200, 99.99+1)) = 100.99, already above the reserve.
			"proxy price above the reserve", "100.00",
			[]bid{{rtAlice, "10.00", "99.99"}, {rtBob, "20.00", "200.00"}}, "100.99", rtBool(true),
		},
		{
			// M=150 > L=50: max(20, min(150, 51)) = 51, then rule 3 lifts it to the reserve.
			"a new leader whose maximum reaches the reserve", "100.00",
			[]bid{{rtAlice, "10.00", "50.00"}, {rtBob, "20.00", "150.00"}}, "100.00", rtBool(true),
		},
		{
			"the leader raising its maximum to the reserve", "100.00",
			[]bid{{rtAlice, "10.00", "50.00"}, {rtAlice, "10.00", "120.00"}}, "100.00", rtBool(true),
		},
		{
			// The price is 100 after rule 3, so min next is 102.50; the leader (max 150) stays at
			// min(150, 120+2.50) = 122.50.
			"a losing bid above the reserve", "100.00",
			[]bid{{rtAlice, "10.00", "150.00"}, {rtBob, "102.50", "120.00"}}, "122.50", rtBool(true),
		},
		{
			// The leader stays at min(99, 60+1) = 61; its maximum does not reach the reserve.
			"a losing bid while the leader is below the reserve", "100.00",
			[]bid{{rtAlice, "10.00", "99.00"}, {rtBob, "20.00", "60.00"}}, "61.00", rtBool(false),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rtOpen()
			s.ReservePrice = rtNull(tt.reserve)
			for i, b := range tt.bids {
				s = rtMustBid(t, s, b.who, b.amount, b.max, rtStart.Add(time.Duration(i+1)*time.Minute))
			}
			rtWantPrice(t, s, tt.price)
			got := s.ReserveMet()
			switch {
			case tt.met == nil && got != nil:
				t.Errorf("ReserveMet = %v, want nil", *got)
			case tt.met != nil && got == nil:
				t.Errorf("ReserveMet = nil, want %v", *tt.met)
			case tt.met != nil && *got != *tt.met:
				t.Errorf("ReserveMet = %v, want %v", *got, *tt.met)
			}
		})
	}
}

func rtBool(b bool) *bool { return &b }

func TestSoftClose(t *testing.T) {
	tests := []struct {
		name     string
		ext      int
		left     time.Duration // ends_at - now when the bid arrives
		amount   string
		code     auction.Code
		extended bool
	}{
		{"far from the end", 120, time.Hour, "10.00", "", false},
		{"exactly at the edge of the window", 120, 120 * time.Second, "10.00", "", false},
		{"a millisecond inside the window", 120, 120*time.Second - time.Millisecond, "10.00", "", true},
		{"just inside the window", 120, 119 * time.Second, "10.00", "", true},
		{"in the last millisecond", 120, time.Millisecond, "10.00", "", true},
		{"longest window", 3600, 3599 * time.Second, "10.00", "", true},
		{"soft close off", 0, time.Second, "10.00", "", false},
		{"soft close off, last millisecond", 0, time.Millisecond, "10.00", "", false},
		{"a rejected bid never extends", 120, time.Second, "9.00", auction.CodeBidTooLow, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rtOpen()
			s.ExtensionSeconds = tt.ext
			now := rtEnd.Add(-tt.left)
			next, _, err := rtBid(t, s, rtAlice, tt.amount, "", now)
			if got := rtCode(err); got != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			want := rtEnd
			if tt.extended {
				want = now.Add(time.Duration(tt.ext) * time.Second)
			}
			if !next.EndsAt.Equal(want) {
				t.Errorf("ends_at = %s, want %s", next.EndsAt, want)
			}
		})
	}

	t.Run("the new end is in milliseconds, as clients are shown it", func(t *testing.T) {
		s := rtOpen()
		at := rtEnd.Add(-10*time.Second + 500*time.Microsecond)
		s = rtMustBid(t, s, rtAlice, "10.00", "", at)
		shown := at.Truncate(time.Millisecond).Add(120 * time.Second)
		if !s.EndsAt.Equal(shown) {
			t.Fatalf("ends_at = %s, want %s", s.EndsAt.Format(time.RFC3339Nano), shown.Format(time.RFC3339Nano))
		}
		if _, _, err := rtBid(t, s, rtBob, "10.50", "", shown.Add(200*time.Microsecond)); rtCode(err) != auction.CodeAuctionClosed {
			t.Errorf("a bid 0.2 ms after the shown end: %v, want auction_closed", err)
		}
	})

	t.Run("extensions chain from the accept time", func(t *testing.T) {
		s := rtOpen()
		first := rtEnd.Add(-10 * time.Second)
		s = rtMustBid(t, s, rtAlice, "10.00", "", first)
		if want := first.Add(120 * time.Second); !s.EndsAt.Equal(want) {
			t.Fatalf("ends_at = %s, want %s", s.EndsAt, want)
		}
		second := s.EndsAt.Add(-time.Second)
		s = rtMustBid(t, s, rtBob, "10.50", "", second)
		if want := second.Add(120 * time.Second); !s.EndsAt.Equal(want) {
			t.Errorf("ends_at = %s, want %s", s.EndsAt, want)
		}
	})
}

func TestAdvance(t *testing.T) {
	withBid := func(reserve, max string) auction.State {
		s := rtOpen()
		s.ReservePrice = rtNull(reserve)
		return rtMustBid(t, s, rtAlice, "10.00", max, rtStart.Add(time.Minute))
	}
	tests := []struct {
		name    string
		state   auction.State
		now     time.Time
		changed bool
		status  auction.Status
		reason  string
		winner  auction.UserRef
	}{
		{"open before the end", withBid("", ""), rtEnd.Add(-time.Millisecond), false, auction.StatusOpen, "", rtNobody},
		{"at the end with a leader", withBid("", ""), rtEnd, true, auction.StatusClosed, auction.ReasonEnded, rtAlice},
		{"after the end with a leader", withBid("", ""), rtEnd.Add(time.Hour), true, auction.StatusClosed, auction.ReasonEnded, rtAlice},
		{"at the end without a bid", rtOpen(), rtEnd, true, auction.StatusClosed, auction.ReasonEnded, rtNobody},
		{"reserve met", withBid("50.00", "60.00"), rtEnd, true, auction.StatusClosed, auction.ReasonEnded, rtAlice},
		{"reserve not met", withBid("50.00", "40.00"), rtEnd, true, auction.StatusClosed, auction.ReasonEnded, rtNobody},
		{"closed stays closed", rtClosed(), rtEnd.Add(time.Hour), false, auction.StatusClosed, auction.ReasonAdmin, rtNobody},
		{"scheduled before the start", rtScheduled(), rtStart.Add(-time.Millisecond), false, auction.StatusScheduled, "", rtNobody},
		{"scheduled at the start", rtScheduled(), rtStart, true, auction.StatusOpen, "", rtNobody},
		{"scheduled after the start", rtScheduled(), rtStart.Add(time.Minute), true, auction.StatusOpen, "", rtNobody},
		// A server that was down for the whole auction opens and closes it in one step.
		{"scheduled past the end", rtScheduled(), rtEnd.Add(time.Hour), true, auction.StatusClosed, auction.ReasonEnded, rtNobody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, changed := auction.Advance(tt.state, tt.now)
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			if changed && next.Seq <= tt.state.Seq {
				t.Errorf("seq %d after %d, want it to grow", next.Seq, tt.state.Seq)
			}
			if !changed {
				rtWantUnchanged(t, tt.state, next)
			}
			if next.Status != tt.status || next.ClosedReason != tt.reason || next.Winner != tt.winner {
				t.Errorf("status %q reason %q winner %+v, want %q %q %+v", next.Status, next.ClosedReason, next.Winner, tt.status, tt.reason, tt.winner)
			}
			if tt.reason == auction.ReasonEnded && !next.ClosedAt.Equal(tt.state.EndsAt) {
				t.Errorf("closed at %s, want the end %s", next.ClosedAt, tt.state.EndsAt)
			}
			if tt.changed && tt.reason == auction.ReasonEnded {
				// The price and the high bidder stay as they were, winner or not.
				rtWantPrice(t, next, rtPrice(tt.state))
				if next.Leader != tt.state.Leader {
					t.Errorf("leader %+v, want %+v", next.Leader, tt.state.Leader)
				}
			}
		})
	}
}

func rtScheduled() auction.State {
	s := rtOpen()
	s.Status = auction.StatusScheduled
	return s
}

func rtClosed() auction.State {
	s := rtOpen()
	s.Status, s.ClosedReason, s.ClosedAt = auction.StatusClosed, auction.ReasonAdmin, rtStart.Add(time.Hour)
	return s
}

func rtCancelled() auction.State {
	s := rtOpen()
	s.Status, s.ClosedReason, s.ClosedAt = auction.StatusCancelled, auction.ReasonCancelled, rtStart.Add(time.Hour)
	return s
}

func TestBidWhenNotOpen(t *testing.T) {
	tests := []struct {
		name  string
		state auction.State
		who   auction.UserRef
		now   time.Time
		code  auction.Code
	}{
		{"scheduled before the start", rtScheduled(), rtAlice, rtStart.Add(-time.Millisecond), auction.CodeAuctionNotOpen},
		// The clock alone decides: at the start the bid is taken even if nothing advanced the status yet.
		{"scheduled at the start", rtScheduled(), rtAlice, rtStart, ""},
		{"open at the end", rtOpen(), rtAlice, rtEnd, auction.CodeAuctionClosed},
		{"open after the end", rtOpen(), rtAlice, rtEnd.Add(time.Second), auction.CodeAuctionClosed},
		{"open a millisecond before the end", rtOpen(), rtAlice, rtEnd.Add(-time.Millisecond), ""},
		{"closed", rtClosed(), rtAlice, rtStart.Add(2 * time.Hour), auction.CodeAuctionClosed},
		{"cancelled", rtCancelled(), rtAlice, rtStart.Add(2 * time.Hour), auction.CodeAuctionClosed},
		{"own auction", rtOpen(), rtSeller, rtStart.Add(time.Minute), auction.CodeOwnAuction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, _, err := rtBid(t, tt.state, tt.who, "10.00", "", tt.now)
			if got := rtCode(err); got != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			if err != nil {
				rtWantUnchanged(t, tt.state, next)
				return
			}
			if next.Status != auction.StatusOpen || next.Seq <= tt.state.Seq {
				t.Errorf("status %q seq %d, want open and above %d", next.Status, next.Seq, tt.state.Seq)
			}
		})
	}
}

func TestBuyNow(t *testing.T) {
	now := rtStart.Add(time.Hour)
	withBuyNow := func(buyNow, reserve string) auction.State {
		s := rtOpen()
		s.BuyNowPrice, s.ReservePrice = rtNull(buyNow), rtNull(reserve)
		return s
	}
	t.Run("ok", func(t *testing.T) {
		for _, reserve := range []string{"", "40.00", "50.00"} {
			before := withBuyNow("50.00", reserve)
			s, err := auction.BuyNow(before, rtBob, now)
			if err != nil {
				t.Fatalf("reserve %q: %v", reserve, err)
			}
			if s.Status != auction.StatusClosed || s.ClosedReason != auction.ReasonBought {
				t.Errorf("reserve %q: status %q reason %q, want closed, bought", reserve, s.Status, s.ClosedReason)
			}
			if s.Winner != rtBob || s.Leader != rtBob {
				t.Errorf("reserve %q: winner %+v leader %+v, want bob both", reserve, s.Winner, s.Leader)
			}
			rtWantPrice(t, s, "50.00")
			if s.BidCount != before.BidCount {
				t.Errorf("reserve %q: bid count %d, want %d", reserve, s.BidCount, before.BidCount)
			}
			if !s.ClosedAt.Equal(now) {
				t.Errorf("reserve %q: closed at %s, want %s", reserve, s.ClosedAt, now)
			}
			if s.Seq <= before.Seq {
				t.Errorf("reserve %q: seq %d after %d, want it to grow", reserve, s.Seq, before.Seq)
			}
			if met := s.ReserveMet(); reserve != "" && (met == nil || !*met) {
				t.Errorf("reserve %q: reserve_met %v after buying, want true", reserve, met)
			}
		}
	})
	t.Run("scheduled at the start", func(t *testing.T) {
		before := withBuyNow("50.00", "")
		before.Status = auction.StatusScheduled
		s, err := auction.BuyNow(before, rtBob, rtStart)
		if err != nil || s.Status != auction.StatusClosed || s.Winner != rtBob {
			t.Errorf("status %q winner %+v err %v, want closed, bob, nil", s.Status, s.Winner, err)
		}
	})

	afterBid := rtMustBid(t, withBuyNow("50.00", ""), rtAlice, "10.00", "", rtStart.Add(time.Minute))
	scheduled := withBuyNow("50.00", "")
	scheduled.Status = auction.StatusScheduled
	closed := rtClosed()
	closed.BuyNowPrice = rtNull("50.00")
	cancelled := rtCancelled()
	cancelled.BuyNowPrice = rtNull("50.00")
	tests := []struct {
		name  string
		state auction.State
		buyer auction.UserRef
		now   time.Time
		code  auction.Code
	}{
		{"after a bid", afterBid, rtBob, now, auction.CodeBuyNowUnavailable},
		{"after a bid, by the leader", afterBid, rtAlice, now, auction.CodeBuyNowUnavailable},
		{"without a buy-now price", rtOpen(), rtBob, now, auction.CodeBuyNowUnavailable},
		{"own auction", withBuyNow("50.00", ""), rtSeller, now, auction.CodeOwnAuction},
		{"closed", closed, rtBob, now, auction.CodeAuctionClosed},
		{"cancelled", cancelled, rtBob, now, auction.CodeAuctionClosed},
		{"at the end, status still open", withBuyNow("50.00", ""), rtBob, rtEnd, auction.CodeAuctionClosed},
		{"before the start", scheduled, rtBob, rtStart.Add(-time.Second), auction.CodeAuctionNotOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, err := auction.BuyNow(tt.state, tt.buyer, tt.now)
			if got := rtCode(err); got != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			rtWantUnchanged(t, tt.state, next)
		})
	}

	t.Run("no bid after buying", func(t *testing.T) {
		s, err := auction.BuyNow(withBuyNow("50.00", ""), rtBob, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rtBid(t, s, rtAlice, "60.00", "", now.Add(time.Second)); rtCode(err) != auction.CodeAuctionClosed {
			t.Errorf("bid after buy now: %v, want auction_closed", err)
		}
		if _, err := auction.BuyNow(s, rtAlice, now.Add(time.Second)); rtCode(err) != auction.CodeAuctionClosed {
			t.Errorf("second buy: %v, want auction_closed", err)
		}
	})
}

func TestCloseEarlyAndCancel(t *testing.T) {
	now := rtStart.Add(time.Hour)
	withBid := func(reserve, max string) auction.State {
		s := rtOpen()
		s.ReservePrice = rtNull(reserve)
		return rtMustBid(t, s, rtAlice, "10.00", max, rtStart.Add(time.Minute))
	}
	closeTests := []struct {
		name   string
		state  auction.State
		code   auction.Code
		winner auction.UserRef
	}{
		{"with a leader", withBid("", ""), "", rtAlice},
		{"reserve met", withBid("20.00", "30.00"), "", rtAlice},
		{"reserve not met", withBid("20.00", "15.00"), "", rtNobody},
		{"without a bid", rtOpen(), "", rtNobody},
		{"scheduled", rtScheduled(), "", rtNobody},
		{"already closed", rtClosed(), auction.CodeConflict, rtNobody},
		{"already cancelled", rtCancelled(), auction.CodeConflict, rtNobody},
	}
	for _, tt := range closeTests {
		t.Run("close "+tt.name, func(t *testing.T) {
			next, err := auction.CloseEarly(tt.state, now)
			if got := rtCode(err); got != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			if err != nil {
				rtWantUnchanged(t, tt.state, next)
				return
			}
			if next.Status != auction.StatusClosed || next.ClosedReason != auction.ReasonAdmin || !next.ClosedAt.Equal(now) {
				t.Errorf("status %q reason %q at %s, want closed, admin, %s", next.Status, next.ClosedReason, next.ClosedAt, now)
			}
			if next.Winner != tt.winner {
				t.Errorf("winner %+v, want %+v", next.Winner, tt.winner)
			}
			if next.Seq <= tt.state.Seq {
				t.Errorf("seq %d after %d, want it to grow", next.Seq, tt.state.Seq)
			}
		})
	}

	cancelTests := []struct {
		name  string
		state auction.State
		code  auction.Code
	}{
		{"with a leader", withBid("", ""), ""},
		{"without a bid", rtOpen(), ""},
		{"scheduled", rtScheduled(), ""},
		{"already closed", rtClosed(), auction.CodeConflict},
		{"already cancelled", rtCancelled(), auction.CodeConflict},
	}
	for _, tt := range cancelTests {
		t.Run("cancel "+tt.name, func(t *testing.T) {
			next, err := auction.Cancel(tt.state, now)
			if got := rtCode(err); got != tt.code {
				t.Fatalf("error %v, want code %q", err, tt.code)
			}
			if err != nil {
				rtWantUnchanged(t, tt.state, next)
				return
			}
			if next.Status != auction.StatusCancelled || next.ClosedReason != auction.ReasonCancelled || !next.ClosedAt.Equal(now) {
				t.Errorf("status %q reason %q at %s, want cancelled, cancelled, %s", next.Status, next.ClosedReason, next.ClosedAt, now)
			}
			if !next.Winner.IsZero() {
				t.Errorf("winner %+v, want nobody", next.Winner)
			}
			if next.Seq <= tt.state.Seq {
				t.Errorf("seq %d after %d, want it to grow", next.Seq, tt.state.Seq)
			}
			if _, _, err := rtBid(t, next, rtBob, "100.00", "", now.Add(time.Second)); rtCode(err) != auction.CodeAuctionClosed {
				t.Errorf("bid after cancel: %v, want auction_closed", err)
			}
		})
	}
}

// TestRulesSeqGrowsWithEveryChange runs one auction's whole life and checks that seq rises with every
// accepted change and stands still on every rejection.
func TestRulesSeqGrowsWithEveryChange(t *testing.T) {
	s := rtScheduled()
	s.BuyNowPrice = rtNull("500.00")
	last := s.Seq
	step := func(name string, next auction.State, err error, wantAccepted bool) {
		t.Helper()
		switch {
		case wantAccepted && err != nil:
			t.Fatalf("%s: %v", name, err)
		case !wantAccepted && err == nil:
			t.Fatalf("%s: accepted, want a rejection", name)
		case wantAccepted && next.Seq <= last:
			t.Errorf("%s: seq %d after %d, want it to grow", name, next.Seq, last)
		case !wantAccepted && next.Seq != last:
			t.Errorf("%s: rejected but seq moved from %d to %d", name, last, next.Seq)
		}
		last = next.Seq
		s = next
	}
	var err error
	next, _, err := rtBid(t, s, rtAlice, "10.00", "", rtStart.Add(-time.Second))
	step("bid before the start", next, err, false)
	next, changed := auction.Advance(s, rtStart)
	if !changed {
		t.Fatal("advance at the start changed nothing")
	}
	step("open", next, nil, true)
	if next, changed := auction.Advance(s, rtStart.Add(time.Second)); changed || next.Seq != last {
		t.Errorf("a second advance: changed %v, seq %d after %d, want nothing to change", changed, next.Seq, last)
	}
	next, _, err = rtBid(t, s, rtAlice, "10.00", "20.00", rtStart.Add(time.Minute))
	step("first bid", next, err, true)
	next, err = auction.BuyNow(s, rtBob, rtStart.Add(time.Minute))
	step("buy now after a bid", next, err, false)
	next, _, err = rtBid(t, s, rtBob, "10.00", "", rtStart.Add(2*time.Minute))
	step("low bid", next, err, false)
	next, _, err = rtBid(t, s, rtBob, "15.00", "", rtStart.Add(3*time.Minute))
	step("losing bid", next, err, true)
	next, _, err = rtBid(t, s, rtAlice, "15.00", "30.00", rtStart.Add(4*time.Minute))
	step("raise", next, err, true)
	next, _, err = rtBid(t, s, rtSeller, "100.00", "", rtStart.Add(5*time.Minute))
	step("own bid", next, err, false)
	next, _, err = rtBid(t, s, rtBob, "100.00", "", rtEnd.Add(-time.Second))
	step("soft-close bid", next, err, true)
	next, err = auction.Cancel(s, rtEnd)
	step("cancel", next, err, true)
	next, err = auction.CloseEarly(s, rtEnd)
	step("close after cancel", next, err, false)
}
