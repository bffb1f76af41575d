package main

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Money follows PROTOCOL.md §2: amounts are decimal strings with exactly two fraction digits on
// the wire, and never floats. The bench reads the server's amounts strictly (so that a server
// that writes "12.5" or 12.5 is caught) and writes its own with StringFixed(2).

// parseWireAmount parses an amount as the server must write it: digits, a point and exactly two
// digits, no sign, no exponent, no spaces, no leading zeros (except "0.xx").
func parseWireAmount(s string) (decimal.Decimal, error) {
	if !isWireAmount(s) {
		return decimal.Decimal{}, fmt.Errorf("amount %q is not a decimal string with exactly two fraction digits", s)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("amount %q: %w", s, err)
	}
	return d, nil
}

// isWireAmount reports whether s matches (0|[1-9][0-9]*)\.[0-9]{2}.
func isWireAmount(s string) bool {
	n := len(s)
	if n < 4 || s[n-3] != '.' {
		return false
	}
	for i := 0; i < n; i++ {
		if i == n-3 {
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	// "0.50" is fine, "00.50" and "05.00" are not.
	return !(s[0] == '0' && n > 4)
}

// formatAmount writes an amount the way the contract does.
func formatAmount(d decimal.Decimal) string { return d.StringFixed(2) }

// incrementSteps is the increment table of PROTOCOL.md §3: below each bound, the step.
var incrementSteps = []struct{ below, step decimal.Decimal }{
	{decimal.RequireFromString("1.00"), decimal.RequireFromString("0.05")},
	{decimal.RequireFromString("5.00"), decimal.RequireFromString("0.25")},
	{decimal.RequireFromString("25.00"), decimal.RequireFromString("0.50")},
	{decimal.RequireFromString("100.00"), decimal.RequireFromString("1.00")},
	{decimal.RequireFromString("250.00"), decimal.RequireFromString("2.50")},
	{decimal.RequireFromString("500.00"), decimal.RequireFromString("5.00")},
	{decimal.RequireFromString("1000.00"), decimal.RequireFromString("10.00")},
	{decimal.RequireFromString("2500.00"), decimal.RequireFromString("25.00")},
	{decimal.RequireFromString("5000.00"), decimal.RequireFromString("50.00")},
}

var topIncrement = decimal.RequireFromString("100.00")

// increment is the bid increment at price.
func increment(price decimal.Decimal) decimal.Decimal {
	for _, s := range incrementSteps {
		if price.LessThan(s.below) {
			return s.step
		}
	}
	return topIncrement
}

// nextAfter is the minimum next bid once the price is price: price + increment(price).
func nextAfter(price decimal.Decimal) decimal.Decimal { return price.Add(increment(price)) }

// stepsAbove is amount raised by k increments, each taken at the level reached so far.
func stepsAbove(amount decimal.Decimal, k int) decimal.Decimal {
	for range k {
		amount = nextAfter(amount)
	}
	return amount
}
