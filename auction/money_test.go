package auction_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"auctionhouse/auction"
)

func TestParseAmount(t *testing.T) {
	valid := []struct{ in, want string }{
		{"1", "1.00"},
		{"1.5", "1.50"},
		{"12.50", "12.50"},
		{"0.01", "0.01"},
		{"0.1", "0.10"},
		{"999999999999.99", "999999999999.99"},
		{"999999999999", "999999999999.00"},
		{"007.10", "7.10"},
		{"00000000000000000000000000001.00", "1.00"}, // leading zeros within the length bound
	}
	for _, tt := range valid {
		t.Run("valid "+tt.in, func(t *testing.T) {
			d, err := auction.ParseAmount(tt.in)
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tt.in, err)
			}
			if !d.Equal(rtDec(tt.want)) {
				t.Errorf("ParseAmount(%q) = %s, want %s", tt.in, d, tt.want)
			}
			if got := auction.FormatAmount(d); got != tt.want {
				t.Errorf("FormatAmount(ParseAmount(%q)) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	invalid := []string{
		"", "0", "0.00", "00", "-1", "-0.01", "1e3", "1E3", "12.345", "0.001", "NaN", "nan", "Inf", "Infinity",
		" 5", "5 ", "\t5", "5\n", "1,00", "1_000", "+1", ".5", "5.", ".", "..", "1..0", "1.0.0", "0x10",
		"1000000000000", "1000000000000.00", "99999999999999", "١٢", "５", "12.5€", "$12",
		strings.Repeat("9", 40), "1." + strings.Repeat("0", 40), strings.Repeat("0", 100) + "1",
		strings.Repeat("1", 1<<16),
	}
	for _, in := range invalid {
		name := in
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		t.Run("invalid "+name, func(t *testing.T) {
			d, err := auction.ParseAmount(in)
			if err == nil {
				t.Fatalf("ParseAmount(%q) = %s, want invalid_amount", in, d)
			}
			if !errors.Is(err, auction.ErrInvalidAmount) || auction.ErrorCode(err) != auction.CodeInvalidAmount {
				t.Errorf("ParseAmount(%q): %v, want invalid_amount", in, err)
			}
			if msg := auction.ErrorMessage(err); len(msg) > 300 {
				t.Errorf("message of %d bytes echoes the input; keep it short", len(msg))
			}
		})
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1", "1.00"},
		{"1.5", "1.50"},
		{"12.50", "12.50"},
		{"12.500", "12.50"},
		{"0.01", "0.01"},
		{"100", "100.00"},
		{"5000.00", "5000.00"},
		{"999999999999.99", "999999999999.99"},
		{"1234567", "1234567.00"}, // never an exponent
		{"0", "0.00"},
		{"-3.05", "-3.05"},
		{"-0.07", "-0.07"},
		{"0.005", "0.01"},                            // three places: rounded
		{"99999999999999.99", "99999999999999.99"},   // 16 digits, the fast path's last
		{"999999999999999.99", "999999999999999.99"}, // 17 digits
		{"12345678901234567890.12", "12345678901234567890.12"}, // beyond int64
		{"-92233720368547758.08", "-92233720368547758.08"},     // beyond int64 once in cents
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := auction.FormatAmount(rtDec(tt.in)); got != tt.want {
				t.Errorf("FormatAmount(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FormatAmount's integer path must agree with the decimal library's own formatting for every
// coefficient and exponent, on both sides of where it gives way to the library.
func TestFormatAmountAgreesWithStringFixed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		coef := rng.Int64() >> rng.IntN(64)
		if rng.IntN(2) == 0 {
			coef = -coef
		}
		d := decimal.New(coef, int32(rng.IntN(7))-4)
		if got, want := auction.FormatAmount(d), d.StringFixed(2); got != want {
			t.Fatalf("FormatAmount(%s) = %q, StringFixed(2) = %q", d, got, want)
		}
	}
}

func TestFormatAmountAllocatesOnlyItsString(t *testing.T) {
	d := rtDec("12345.67")
	if n := testing.AllocsPerRun(100, func() { _ = auction.FormatAmount(d) }); n > 1 {
		t.Errorf("FormatAmount allocates %.0f times, want 1 (the string)", n)
	}
}

func TestParseAmountJSON(t *testing.T) {
	tests := []struct {
		name string
		raw  string // "" is a missing field
		want string // the amount when ok
		code auction.Code
	}{
		{"string", `"12.50"`, "12.50", ""},
		{"string without fraction", `"12"`, "12.00", ""},
		{"string with spaces around the JSON value", ` "12.50" `, "12.50", ""},
		{"escaped string", `"\u0031\u0032.5"`, "12.50", ""},
		{"integer number", `12`, "", auction.CodeInvalidAmount},
		{"fraction number", `12.5`, "", auction.CodeInvalidAmount},
		{"negative number", `-1`, "", auction.CodeInvalidAmount},
		{"exponent number", `1e3`, "", auction.CodeInvalidAmount},
		{"zero number", `0`, "", auction.CodeInvalidAmount},
		{"string with exponent", `"1e3"`, "", auction.CodeInvalidAmount},
		{"string with three fraction digits", `"12.345"`, "", auction.CodeInvalidAmount},
		{"negative string", `"-1"`, "", auction.CodeInvalidAmount},
		{"NaN string", `"NaN"`, "", auction.CodeInvalidAmount},
		{"string with a space", `" 5"`, "", auction.CodeInvalidAmount},
		{"empty string", `""`, "", auction.CodeInvalidAmount},
		{"too large string", `"1000000000000"`, "", auction.CodeInvalidAmount},
		{"missing", ``, "", auction.CodeInvalidRequest},
		{"whitespace only", `  `, "", auction.CodeInvalidRequest},
		{"null", `null`, "", auction.CodeInvalidRequest},
		{"true", `true`, "", auction.CodeInvalidRequest},
		{"false", `false`, "", auction.CodeInvalidRequest},
		{"object", `{}`, "", auction.CodeInvalidRequest},
		{"array", `[]`, "", auction.CodeInvalidRequest},
		{"array of a string", `["12.50"]`, "", auction.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := auction.ParseAmountJSON("amount", json.RawMessage(tt.raw))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("ParseAmountJSON(%s): %v", tt.raw, err)
				}
				if !d.Equal(rtDec(tt.want)) {
					t.Errorf("ParseAmountJSON(%s) = %s, want %s", tt.raw, d, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseAmountJSON(%s) = %s, want %s", tt.raw, d, tt.code)
			}
			sentinel := auction.ErrInvalidAmount
			if tt.code == auction.CodeInvalidRequest {
				sentinel = auction.ErrInvalidRequest
			}
			if !errors.Is(err, sentinel) || auction.ErrorCode(err) != tt.code {
				t.Errorf("ParseAmountJSON(%s): %v, want %s", tt.raw, err, tt.code)
			}
			if !strings.Contains(auction.ErrorMessage(err), "amount") {
				t.Errorf("message %q does not name the field", auction.ErrorMessage(err))
			}
		})
	}
}

// TestParseAmountJSONInBody decodes amounts the way a handler does, through a json.RawMessage
// field, so an absent field arrives as an empty message.
func TestParseAmountJSONInBody(t *testing.T) {
	tests := []struct {
		body string
		code auction.Code
	}{
		{`{"amount":"12.50"}`, ""},
		{`{"amount":12.50}`, auction.CodeInvalidAmount},
		{`{}`, auction.CodeInvalidRequest},
		{`{"amount":null}`, auction.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			var body struct {
				Amount json.RawMessage `json:"amount"`
			}
			if err := json.Unmarshal([]byte(tt.body), &body); err != nil {
				t.Fatal(err)
			}
			_, err := auction.ParseAmountJSON("amount", body.Amount)
			if got := rtCode(err); got != tt.code {
				t.Errorf("error %v, want code %q", err, tt.code)
			}
		})
	}
}

func TestParseOptionalAmountJSON(t *testing.T) {
	tests := []struct {
		raw  string
		ok   bool
		code auction.Code
	}{
		{``, false, ""},
		{`null`, false, ""},
		{` null `, false, ""},
		{`"20.00"`, true, ""},
		{`20`, false, auction.CodeInvalidAmount},
		{`"0"`, false, auction.CodeInvalidAmount},
		{`true`, false, auction.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			_, ok, err := auction.ParseOptionalAmountJSON("max_amount", json.RawMessage(tt.raw))
			if ok != tt.ok || rtCode(err) != tt.code {
				t.Errorf("ok %v err %v, want ok %v code %q", ok, err, tt.ok, tt.code)
			}
		})
	}
}

// FuzzParseAmount checks the contract's promises about every accepted amount: within range, at
// most two fraction digits, and a fixed point of FormatAmount/ParseAmount.
func FuzzParseAmount(f *testing.F) {
	for _, seed := range []string{
		"1", "1.5", "12.50", "0.01", "999999999999.99", "007.10", "", "0", "0.00", "-1", "1e3",
		"12.345", "NaN", " 5", "5 ", "1,00", "+1", ".5", "5.", "1000000000000", "1000000000000.00",
		"0.001", "00000000000000000000000000001.00", "Infinity", "1_0", "٣",
	} {
		f.Add(seed)
	}
	maxAmount := rtDec("1000000000000")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := auction.ParseAmount(s)
		if err != nil {
			if auction.ErrorCode(err) != auction.CodeInvalidAmount {
				t.Fatalf("ParseAmount(%q): %v, want invalid_amount", s, err)
			}
			return
		}
		if !d.IsPositive() || d.GreaterThanOrEqual(maxAmount) {
			t.Fatalf("ParseAmount(%q) = %s, out of range", s, d)
		}
		if !d.Equal(d.Round(2)) {
			t.Fatalf("ParseAmount(%q) = %s, more than two fraction digits", s, d)
		}
		text := auction.FormatAmount(d)
		if i := strings.IndexByte(text, '.'); i < 0 || len(text)-i-1 != 2 {
			t.Fatalf("FormatAmount(%s) = %q, want exactly two fraction digits", d, text)
		}
		again, err := auction.ParseAmount(text)
		if err != nil {
			t.Fatalf("FormatAmount(ParseAmount(%q)) = %q does not parse: %v", s, text, err)
		}
		if !again.Equal(d) {
			t.Fatalf("round trip of %q: %s then %s", s, d, again)
		}
	})
}
