package handlers

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"auctionhouse/auction"
)

// sellFormFields are the fields the seller's form may mark, as sellFormInput names them.
var sellFormFields = map[string]bool{
	"title": true, "description": true, "starting_price": true, "reserve_price": true,
	"buy_now_price": true, "starts_at": true, "ends_at": true, "extension_seconds": true,
}

// FuzzNewAuctionForm fuzzes the seller's form fields as POST /auctions reads them (sellFormInput
// and tzOffset). For any values:
//   - nothing panics, and only the form's own fields are marked, each with a message;
//   - the title and description reach the engine exactly as typed (Validate trims them);
//   - a field whose text cannot be read (an amount, a time, a number) is always marked;
//   - the form has no errors exactly when every field could be read and the engine's
//     Validate accepts the input: the form never lets through what the engine refuses, and
//     never refuses what it would take;
//   - what could be read reaches the engine: amounts as ParseAmount reads them;
//   - tz_offset_minutes is used only when it is a whole number of minutes within ±14 hours.
func FuzzNewAuctionForm(f *testing.F) {
	type seed struct{ title, desc, start, reserve, buyNow, startsAt, endsAt, ext, tz string }
	for _, s := range []seed{
		{"Brass telescope", "Works.", "10", "", "", "", "2026-11-25T20:15", "120", ""},
		{"Lamp", "", "10.50", "20", "30", "2026-11-24T21:00", "2026-11-25T21:00:30", "0", "-60"},
		{"  ", "x", "0", "5", "1", "yesterday", "", "-1", "abc"},
		{"T", "d", "12.345", "1e3", "NaN", "2026-11-25T20:15:00Z", "2026-11-25T20:15:00+02:00", "3601", "840"},
		{"T", "d", "10", "9", "9.99", "2026-11-26T00:00", "2026-11-25T00:00", "99999999999999999999", "841"},
		{"T", "d", " 10 ", " 15 ", "", " 2026-11-25T20:15 ", " 2026-11-26T20:15 ", " 60 ", " 120 "},
		{"T\x00", "\xff", "999999999999.99", "1000000000000", "", "0000-01-01T00:00", "9999-12-31T23:59", "+5", "307445735"},
		{strings.Repeat("é", 201), strings.Repeat("d", 10001), "1", "", "", "", "2026-11-24T20:00", "", "-9223372036854775808"},
	} {
		f.Add(s.title, s.desc, s.start, s.reserve, s.buyNow, s.startsAt, s.endsAt, s.ext, s.tz)
	}
	now := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, title, desc, start, reserve, buyNow, startsAt, endsAt, ext, tz string) {
		form := sellForm{
			Title: title, Description: desc, StartingPrice: start, ReservePrice: reserve, BuyNowPrice: buyNow,
			StartsAt: startsAt, EndsAt: endsAt, ExtensionSeconds: ext,
		}
		offset := tzOffset(tz)
		if offset != nil {
			n, err := strconv.Atoi(strings.TrimSpace(tz))
			if err != nil || n < -14*60 || n > 14*60 || *offset != time.Duration(n)*time.Minute {
				t.Fatalf("tz_offset_minutes %q read as %v", tz, *offset)
			}
		}
		in, errs := sellFormInput(form, offset, now)

		for field, msg := range errs {
			if !sellFormFields[field] || msg == "" {
				t.Fatalf("field %q marked with %q", field, msg)
			}
		}
		if in.Title != title || in.Description != desc {
			t.Fatalf("title/description changed on the way: %q %q", in.Title, in.Description)
		}

		// Which fields cannot be read, judged independently of sellFormInput.
		unreadable := map[string]bool{}
		amount := func(field, raw string) {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				return
			}
			if _, err := auction.ParseAmount(raw); err != nil {
				unreadable[field] = true
			}
		}
		if strings.TrimSpace(start) == "" {
			unreadable["starting_price"] = true // "Enter a starting price."
		}
		amount("starting_price", start)
		amount("reserve_price", reserve)
		amount("buy_now_price", buyNow)
		for field, raw := range map[string]string{"starts_at": startsAt, "ends_at": endsAt} {
			if raw = strings.TrimSpace(raw); raw != "" {
				if _, ok := parseFormTime(raw, offset); !ok {
					unreadable[field] = true
				}
			}
		}
		if raw := strings.TrimSpace(ext); raw != "" {
			if _, err := strconv.Atoi(raw); err != nil || !isDigits(raw) {
				unreadable["extension_seconds"] = true
			}
		}
		for field := range unreadable {
			if errs[field] == "" {
				t.Fatalf("unreadable %s not marked; errors %v", field, errs)
			}
		}

		_, verr := in.Validate(now)
		if (len(errs) == 0) != (verr == nil && len(unreadable) == 0) {
			t.Fatalf("form errors %v, but Validate says %v with unreadable fields %v", errs, verr, unreadable)
		}
		if verr != nil && auction.ErrorCode(verr) == auction.CodeInternal {
			t.Fatalf("Validate failed internally: %v", verr)
		}

		if d, err := auction.ParseAmount(strings.TrimSpace(start)); err == nil && !in.StartingPrice.Equal(d) {
			t.Fatalf("starting price %q reached the engine as %s", start, in.StartingPrice)
		}
		if d, err := auction.ParseAmount(strings.TrimSpace(reserve)); err == nil && (!in.ReservePrice.Valid || !in.ReservePrice.Decimal.Equal(d)) {
			t.Fatalf("reserve %q reached the engine as %v", reserve, in.ReservePrice)
		}
		if strings.TrimSpace(buyNow) == "" && in.BuyNowPrice.Valid {
			t.Fatalf("an empty buy-now price reached the engine as %v", in.BuyNowPrice)
		}
	})
}
