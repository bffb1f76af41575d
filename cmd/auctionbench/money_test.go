package main

import (
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseWireAmount(t *testing.T) {
	good := map[string]string{"0.05": "0.05", "1.00": "1", "12.50": "12.5", "999999999999.99": "999999999999.99", "0.00": "0"}
	for in, want := range good {
		d, err := parseWireAmount(in)
		if err != nil || !d.Equal(decimal.RequireFromString(want)) {
			t.Errorf("parseWireAmount(%q) = %v, %v; want %s", in, d, err, want)
		}
		if formatAmount(d) != in {
			t.Errorf("formatAmount(parse(%q)) = %q", in, formatAmount(d))
		}
	}
	for _, in := range []string{"", "1", "1.0", "12.5", "12.345", "1e3", "1.00e0", "-1.00", "+1.00", " 5.00", "5.00 ",
		"NaN", "Inf", "01.00", "00.50", ".50", "1.", "1,00", "0x1.00", "１.00"} {
		if _, err := parseWireAmount(in); err == nil {
			t.Errorf("parseWireAmount(%q) accepted", in)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	for in, want := range map[string]string{"1": "1.00", "1.5": "1.50", "0.05": "0.05", "1234567.8": "1234567.80", "25": "25.00"} {
		if got := formatAmount(decimal.RequireFromString(in)); got != want {
			t.Errorf("formatAmount(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestIncrement(t *testing.T) {
	// Each bound of PROTOCOL.md §3 and the cent on either side.
	tests := []struct{ price, inc string }{
		{"0.01", "0.05"}, {"0.99", "0.05"},
		{"1.00", "0.25"}, {"4.99", "0.25"},
		{"5.00", "0.50"}, {"24.99", "0.50"},
		{"25.00", "1.00"}, {"99.99", "1.00"},
		{"100.00", "2.50"}, {"249.99", "2.50"},
		{"250.00", "5.00"}, {"499.99", "5.00"},
		{"500.00", "10.00"}, {"999.99", "10.00"},
		{"1000.00", "25.00"}, {"2499.99", "25.00"},
		{"2500.00", "50.00"}, {"4999.99", "50.00"},
		{"5000.00", "100.00"}, {"123456.78", "100.00"},
	}
	for _, tt := range tests {
		got := increment(decimal.RequireFromString(tt.price))
		if formatAmount(got) != tt.inc {
			t.Errorf("increment(%s) = %s, want %s", tt.price, formatAmount(got), tt.inc)
		}
	}
}

func TestNextAfterAndSteps(t *testing.T) {
	d := decimal.RequireFromString
	if got := formatAmount(nextAfter(d("0.95"))); got != "1.00" {
		t.Errorf("nextAfter(0.95) = %s", got)
	}
	if got := formatAmount(nextAfter(d("4.99"))); got != "5.24" {
		t.Errorf("nextAfter(4.99) = %s", got)
	}
	// 4.50 → 4.75 → 5.00 → 5.50: the step changes once the level crosses 5.00.
	if got := formatAmount(stepsAbove(d("4.50"), 3)); got != "5.50" {
		t.Errorf("stepsAbove(4.50, 3) = %s", got)
	}
	if got := formatAmount(stepsAbove(d("7.00"), 0)); got != "7.00" {
		t.Errorf("stepsAbove(7.00, 0) = %s", got)
	}
}
