package auction_test

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/auction"
)

// naNow is the server clock in these tests; it has a sub-millisecond part so truncation shows.
var naNow = time.Date(2026, 11, 24, 20, 15, 3, 250_700_000, time.UTC)

// naValid is a new auction that passes every rule; each test breaks one thing.
func naValid() auction.NewAuctionInput {
	return auction.NewAuctionInput{
		Title:         "Brass lamp",
		Description:   "Works; small dent.",
		StartingPrice: rtDec("10.00"),
		EndsAt:        naNow.Add(24 * time.Hour),
	}
}

func naTime(t time.Time) *time.Time { return &t }
func naInt(n int) *int              { return &n }

func TestNewAuctionValid(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	tests := []struct {
		name  string
		edit  func(*auction.NewAuctionInput)
		check func(*testing.T, auction.NewAuction)
	}{
		{"defaults", nil, func(t *testing.T, a auction.NewAuction) {
			if want := naNow.Truncate(time.Millisecond); !a.StartsAt.Equal(want) || a.StartsAt.Location() != time.UTC {
				t.Errorf("starts_at %s, want now %s in UTC", a.StartsAt, want)
			}
			if a.ExtensionSeconds != auction.DefaultExtensionSeconds {
				t.Errorf("extension %d, want %d", a.ExtensionSeconds, auction.DefaultExtensionSeconds)
			}
			if a.ReservePrice.Valid || a.BuyNowPrice.Valid {
				t.Errorf("reserve %v buy now %v, want none", a.ReservePrice, a.BuyNowPrice)
			}
			if a.Title != "Brass lamp" || a.Description != "Works; small dent." || !a.StartingPrice.Equal(rtDec("10")) {
				t.Errorf("got %+v", a)
			}
		}},
		{"title and description are trimmed", func(in *auction.NewAuctionInput) {
			in.Title, in.Description = "  \tBrass lamp \n", "\n Works.\n\n"
		}, func(t *testing.T, a auction.NewAuction) {
			if a.Title != "Brass lamp" || a.Description != "Works." {
				t.Errorf("title %q description %q", a.Title, a.Description)
			}
		}},
		{"one-character title", func(in *auction.NewAuctionInput) { in.Title = "x" }, nil},
		{"200-character title", func(in *auction.NewAuctionInput) { in.Title = strings.Repeat("x", 200) }, nil},
		{"200 multi-byte characters", func(in *auction.NewAuctionInput) { in.Title = strings.Repeat("é", 200) }, nil},
		{"200 characters after trimming", func(in *auction.NewAuctionInput) { in.Title = "  " + strings.Repeat("x", 200) + "  " }, nil},
		{"empty description", func(in *auction.NewAuctionInput) { in.Description = "" }, nil},
		{"10000-character description", func(in *auction.NewAuctionInput) { in.Description = strings.Repeat("ü", 10000) }, nil},
		{"smallest starting price", func(in *auction.NewAuctionInput) { in.StartingPrice = rtDec("0.01") }, nil},
		{"largest starting price", func(in *auction.NewAuctionInput) { in.StartingPrice = rtDec("999999999999.99") }, nil},
		{"amounts get two fraction digits", func(in *auction.NewAuctionInput) {
			in.StartingPrice, in.ReservePrice, in.BuyNowPrice = rtDec("10.500"), rtNull("20"), rtNull("30.5")
		}, func(t *testing.T, a auction.NewAuction) {
			for _, c := range []struct {
				got  decimal.NullDecimal
				want string
			}{
				{decimal.NewNullDecimal(a.StartingPrice), "10.50"},
				{a.ReservePrice, "20.00"},
				{a.BuyNowPrice, "30.50"},
			} {
				if !c.got.Valid || !c.got.Decimal.Equal(rtDec(c.want)) || c.got.Decimal.Exponent() != -2 {
					t.Errorf("amount %v, want %s with two fraction digits", c.got, c.want)
				}
			}
		}},
		{"reserve equal to the starting price", func(in *auction.NewAuctionInput) { in.ReservePrice = rtNull("10.00") }, nil},
		{"buy now equal to the starting price", func(in *auction.NewAuctionInput) { in.BuyNowPrice = rtNull("10.00") }, nil},
		{"buy now equal to the reserve", func(in *auction.NewAuctionInput) {
			in.ReservePrice, in.BuyNowPrice = rtNull("50.00"), rtNull("50.00")
		}, nil},
		{"buy now above the reserve", func(in *auction.NewAuctionInput) {
			in.ReservePrice, in.BuyNowPrice = rtNull("50.00"), rtNull("80.00")
		}, func(t *testing.T, a auction.NewAuction) {
			if !a.ReservePrice.Decimal.Equal(rtDec("50")) || !a.BuyNowPrice.Decimal.Equal(rtDec("80")) {
				t.Errorf("reserve %v buy now %v", a.ReservePrice, a.BuyNowPrice)
			}
		}},
		{"starts_at in the future, in another zone", func(in *auction.NewAuctionInput) {
			in.StartsAt = naTime(time.Date(2026, 11, 25, 9, 0, 0, 123_456_789, paris))
			in.EndsAt = time.Date(2026, 11, 26, 9, 0, 0, 999_999_999, paris)
		}, func(t *testing.T, a auction.NewAuction) {
			wantStart := time.Date(2026, 11, 25, 8, 0, 0, 123_000_000, time.UTC)
			wantEnd := time.Date(2026, 11, 26, 8, 0, 0, 999_000_000, time.UTC)
			if a.StartsAt != wantStart || a.EndsAt != wantEnd {
				t.Errorf("starts %s ends %s, want %s %s (UTC, milliseconds)", a.StartsAt, a.EndsAt, wantStart, wantEnd)
			}
		}},
		// The contract sets no lower bound on starts_at: one in the past starts the auction at once.
		{"starts_at in the past", func(in *auction.NewAuctionInput) { in.StartsAt = naTime(naNow.Add(-time.Hour)) }, nil},
		{"ends_at a millisecond from now", func(in *auction.NewAuctionInput) {
			in.EndsAt = naNow.Truncate(time.Millisecond).Add(time.Millisecond)
		}, nil},
		{"ends_at a millisecond after starts_at", func(in *auction.NewAuctionInput) {
			in.StartsAt = naTime(naNow.Add(time.Hour))
			in.EndsAt = naNow.Add(time.Hour + time.Millisecond)
		}, nil},
		{"extension 0", func(in *auction.NewAuctionInput) { in.ExtensionSeconds = naInt(0) }, func(t *testing.T, a auction.NewAuction) {
			if a.ExtensionSeconds != 0 {
				t.Errorf("extension %d, want 0", a.ExtensionSeconds)
			}
		}},
		{"extension 3600", func(in *auction.NewAuctionInput) { in.ExtensionSeconds = naInt(3600) }, func(t *testing.T, a auction.NewAuction) {
			if a.ExtensionSeconds != 3600 {
				t.Errorf("extension %d, want 3600", a.ExtensionSeconds)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := naValid()
			if tt.edit != nil {
				tt.edit(&in)
			}
			a, err := in.Validate(naNow)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if a.EndsAt.Location() != time.UTC || a.StartsAt.Location() != time.UTC {
				t.Errorf("times not in UTC: %s %s", a.StartsAt, a.EndsAt)
			}
			if a.StartsAt.Nanosecond()%int(time.Millisecond) != 0 || a.EndsAt.Nanosecond()%int(time.Millisecond) != 0 {
				t.Errorf("times not truncated to milliseconds: %s %s", a.StartsAt, a.EndsAt)
			}
			if tt.check != nil {
				tt.check(t, a)
			}
		})
	}
}

func TestNewAuctionInvalid(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*auction.NewAuctionInput)
		field string
		code  auction.Code
	}{
		{"empty title", func(in *auction.NewAuctionInput) { in.Title = "" }, "title", auction.CodeInvalidRequest},
		{"blank title", func(in *auction.NewAuctionInput) { in.Title = " \t\n " }, "title", auction.CodeInvalidRequest},
		{"201-character title", func(in *auction.NewAuctionInput) { in.Title = strings.Repeat("x", 201) }, "title", auction.CodeInvalidRequest},
		{"201 multi-byte characters", func(in *auction.NewAuctionInput) { in.Title = strings.Repeat("é", 201) }, "title", auction.CodeInvalidRequest},
		{"title with invalid UTF-8", func(in *auction.NewAuctionInput) { in.Title = "lamp \xff" }, "title", auction.CodeInvalidRequest},
		{"title with NUL", func(in *auction.NewAuctionInput) { in.Title = "lamp\x00" }, "title", auction.CodeInvalidRequest},
		{"10001-character description", func(in *auction.NewAuctionInput) { in.Description = strings.Repeat("x", 10001) }, "description", auction.CodeInvalidRequest},
		{"description with NUL", func(in *auction.NewAuctionInput) { in.Description = "a\x00b" }, "description", auction.CodeInvalidRequest},
		{"description with invalid UTF-8", func(in *auction.NewAuctionInput) { in.Description = "\xc3" }, "description", auction.CodeInvalidRequest},
		{"zero starting price", func(in *auction.NewAuctionInput) { in.StartingPrice = rtDec("0") }, "starting_price", auction.CodeInvalidAmount},
		{"missing starting price", func(in *auction.NewAuctionInput) { in.StartingPrice = decimal.Decimal{} }, "starting_price", auction.CodeInvalidAmount},
		{"negative starting price", func(in *auction.NewAuctionInput) { in.StartingPrice = rtDec("-1") }, "starting_price", auction.CodeInvalidAmount},
		{"starting price 1e12", func(in *auction.NewAuctionInput) { in.StartingPrice = rtDec("1000000000000") }, "starting_price", auction.CodeInvalidAmount},
		{"starting price with three decimals", func(in *auction.NewAuctionInput) { in.StartingPrice = rtDec("10.005") }, "starting_price", auction.CodeInvalidAmount},
		{"zero reserve", func(in *auction.NewAuctionInput) { in.ReservePrice = rtNull("0") }, "reserve_price", auction.CodeInvalidAmount},
		{"reserve with three decimals", func(in *auction.NewAuctionInput) { in.ReservePrice = rtNull("20.001") }, "reserve_price", auction.CodeInvalidAmount},
		{"reserve below the starting price", func(in *auction.NewAuctionInput) { in.ReservePrice = rtNull("9.99") }, "reserve_price", auction.CodeInvalidAmount},
		{"reserve 1e12", func(in *auction.NewAuctionInput) { in.ReservePrice = rtNull("1000000000000") }, "reserve_price", auction.CodeInvalidAmount},
		{"buy now below the starting price", func(in *auction.NewAuctionInput) { in.BuyNowPrice = rtNull("9.99") }, "buy_now_price", auction.CodeInvalidAmount},
		{"buy now below the reserve", func(in *auction.NewAuctionInput) {
			in.ReservePrice, in.BuyNowPrice = rtNull("50.00"), rtNull("49.99")
		}, "buy_now_price", auction.CodeInvalidAmount},
		{"negative buy now", func(in *auction.NewAuctionInput) { in.BuyNowPrice = rtNull("-5") }, "buy_now_price", auction.CodeInvalidAmount},
		{"buy now 1e12", func(in *auction.NewAuctionInput) { in.BuyNowPrice = rtNull("1000000000000.00") }, "buy_now_price", auction.CodeInvalidAmount},
		{"missing ends_at", func(in *auction.NewAuctionInput) { in.EndsAt = time.Time{} }, "ends_at", auction.CodeInvalidRequest},
		{"ends_at now", func(in *auction.NewAuctionInput) { in.EndsAt = naNow }, "ends_at", auction.CodeInvalidRequest},
		// Stored to the millisecond, this is before the sub-millisecond clock.
		{"ends_at within the current millisecond", func(in *auction.NewAuctionInput) { in.EndsAt = naNow.Add(time.Microsecond) }, "ends_at", auction.CodeInvalidRequest},
		{"ends_at in the past", func(in *auction.NewAuctionInput) { in.EndsAt = naNow.Add(-time.Hour) }, "ends_at", auction.CodeInvalidRequest},
		{"ends_at before starts_at", func(in *auction.NewAuctionInput) {
			in.StartsAt, in.EndsAt = naTime(naNow.Add(2*time.Hour)), naNow.Add(time.Hour)
		}, "ends_at", auction.CodeInvalidRequest},
		{"ends_at equal to starts_at", func(in *auction.NewAuctionInput) {
			in.StartsAt, in.EndsAt = naTime(naNow.Add(time.Hour)), naNow.Add(time.Hour)
		}, "ends_at", auction.CodeInvalidRequest},
		{"ends_at after the year 9999", func(in *auction.NewAuctionInput) {
			in.EndsAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "ends_at", auction.CodeInvalidRequest},
		{"zero starts_at", func(in *auction.NewAuctionInput) { in.StartsAt = naTime(time.Time{}) }, "starts_at", auction.CodeInvalidRequest},
		{"starts_at after the year 9999", func(in *auction.NewAuctionInput) {
			in.StartsAt = naTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
		}, "starts_at", auction.CodeInvalidRequest},
		{"negative extension", func(in *auction.NewAuctionInput) { in.ExtensionSeconds = naInt(-1) }, "extension_seconds", auction.CodeInvalidRequest},
		{"extension 3601", func(in *auction.NewAuctionInput) { in.ExtensionSeconds = naInt(3601) }, "extension_seconds", auction.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := naValid()
			tt.edit(&in)
			a, err := in.Validate(naNow)
			if err == nil {
				t.Fatalf("Validate accepted %+v", a)
			}
			var v *auction.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("error %T %v, want *ValidationError", err, err)
			}
			if len(v.Fields) != 1 || v.Fields[tt.field] == nil {
				t.Fatalf("fields %v, want only %s", v.Fields, tt.field)
			}
			f := v.Fields[tt.field]
			if f.Code != tt.code {
				t.Errorf("%s: code %s, want %s", tt.field, f.Code, tt.code)
			}
			if f.Message == "" || strings.Contains(f.Message, "%!") {
				t.Errorf("%s: message %q", tt.field, f.Message)
			}
			// One bad field decides the code of the whole request.
			if v.Code() != tt.code || auction.ErrorCode(err) != tt.code {
				t.Errorf("Code() %s, ErrorCode %s, want %s", v.Code(), auction.ErrorCode(err), tt.code)
			}
			sentinel := auction.ErrInvalidAmount
			if tt.code == auction.CodeInvalidRequest {
				sentinel = auction.ErrInvalidRequest
			}
			if !errors.Is(err, sentinel) {
				t.Errorf("errors.Is(%v, %v) is false", err, sentinel)
			}
			if msg := auction.ErrorMessage(err); !strings.Contains(msg, tt.field) || !strings.Contains(msg, f.Message) {
				t.Errorf("ErrorMessage %q does not carry %s: %q", msg, tt.field, f.Message)
			}
			if a != (auction.NewAuction{}) {
				t.Errorf("returned %+v with an error, want the zero value", a)
			}
		})
	}
}

func TestNewAuctionReportsEveryField(t *testing.T) {
	in := auction.NewAuctionInput{
		Title:            "",
		Description:      strings.Repeat("x", 10001),
		StartingPrice:    rtDec("0"),
		ReservePrice:     rtNull("1.001"),
		BuyNowPrice:      rtNull("-1"),
		StartsAt:         naTime(time.Time{}),
		EndsAt:           naNow.Add(-time.Second),
		ExtensionSeconds: naInt(4000),
	}
	_, err := in.Validate(naNow)
	var v *auction.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %T %v, want *ValidationError", err, err)
	}
	var got []string
	for name := range v.Fields {
		got = append(got, name)
	}
	sort.Strings(got)
	want := []string{"buy_now_price", "description", "ends_at", "extension_seconds", "reserve_price", "starting_price", "starts_at", "title"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields %v, want %v", got, want)
	}
	if v.Code() != auction.CodeInvalidRequest || auction.ErrorCode(err) != auction.CodeInvalidRequest {
		t.Errorf("code %s, want invalid_request when any field is malformed", v.Code())
	}
	// The message lists the fields in the order of the form.
	msg := v.Error()
	last := -1
	for _, name := range []string{"title", "description", "starting_price", "reserve_price", "buy_now_price", "starts_at", "ends_at", "extension_seconds"} {
		i := strings.Index(msg, name+": ")
		if i < 0 || i < last {
			t.Errorf("Error() %q: %s missing or out of order", msg, name)
		}
		last = i
	}
}

func TestNewAuctionMoneyOnlyIsInvalidAmount(t *testing.T) {
	in := naValid()
	in.StartingPrice = rtDec("100.00")
	in.ReservePrice, in.BuyNowPrice = rtNull("50.00"), rtNull("60.00")
	_, err := in.Validate(naNow)
	var v *auction.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %T %v, want *ValidationError", err, err)
	}
	// Both fall below the starting price; the reserve is reported once, and buy now is compared
	// with the starting price, not with a reserve that is itself wrong.
	if len(v.Fields) != 2 || v.Fields["reserve_price"] == nil || v.Fields["buy_now_price"] == nil {
		t.Fatalf("fields %v, want reserve_price and buy_now_price", v.Fields)
	}
	if !strings.Contains(v.Fields["buy_now_price"].Message, "starting price") {
		t.Errorf("buy_now_price message %q, want it to name the starting price", v.Fields["buy_now_price"].Message)
	}
	if v.Code() != auction.CodeInvalidAmount || !errors.Is(err, auction.ErrInvalidAmount) {
		t.Errorf("code %s, want invalid_amount", v.Code())
	}

	// A bad starting price is not compared with: the reserve is fine on its own.
	in = naValid()
	in.StartingPrice, in.ReservePrice = rtDec("0"), rtNull("5.00")
	_, err = in.Validate(naNow)
	if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields["starting_price"] == nil {
		t.Errorf("error %v, want only starting_price", err)
	}
}
