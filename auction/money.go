package auction

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/shopspring/decimal"
)

// maxAmount is the exclusive upper bound of every amount (PROTOCOL.md §2).
var maxAmount = decimal.New(1, 12)

// maxAmountLen bounds the text we hand to the decimal parser: 12 integer digits, a point and two
// fraction digits, with room for leading zeros a client may send.
const maxAmountLen = 32

// ParseAmount parses an amount as the contract writes it: plain decimal digits with at most two
// fraction digits, greater than zero and below 1,000,000,000,000. Anything else is invalid_amount.
func ParseAmount(s string) (decimal.Decimal, error) { return parseAmount("amount", s) }

// parseAmount is ParseAmount with the field's name in its messages.
func parseAmount(field, s string) (decimal.Decimal, error) {
	if !isPlainAmount(s) {
		return decimal.Decimal{}, Errorf(CodeInvalidAmount, "%s %q must be a decimal string with at most two fraction digits, like \"12.50\"", field, truncate(s))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, Errorf(CodeInvalidAmount, "%s %q is not a number", field, truncate(s))
	}
	if !d.IsPositive() || d.GreaterThanOrEqual(maxAmount) {
		return decimal.Decimal{}, Errorf(CodeInvalidAmount, "%s %s must be above 0 and below 1000000000000", field, s)
	}
	return d, nil
}

// isPlainAmount reports whether s is digits, optionally followed by a point and one or two digits.
// Checking the shape ourselves keeps exponents, signs, spaces and "NaN" away from the parser.
func isPlainAmount(s string) bool {
	if len(s) == 0 || len(s) > maxAmountLen {
		return false
	}
	digits, fraction := 0, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if fraction >= 0 {
				fraction++
			} else {
				digits++
			}
		case c == '.' && fraction < 0:
			fraction = 0
		default:
			return false
		}
	}
	return digits > 0 && (fraction < 0 || (fraction >= 1 && fraction <= 2))
}

func truncate(s string) string {
	if len(s) > maxAmountLen {
		return s[:maxAmountLen] + "…"
	}
	return s
}

// FormatAmount writes an amount as the contract does: plain decimal with exactly two fraction digits.
func FormatAmount(d decimal.Decimal) string {
	if cents, ok := exactCents(d); ok {
		return formatCents(cents)
	}
	return d.StringFixed(2)
}

// exactCents returns d in cents when that is exact and fits an int64 with room to spare, which
// is every amount the contract allows. StringFixed goes through big.Int's formatting and
// allocates several times: each bid formats a handful of amounts, and that was 5 % of the
// server's CPU in the many scenario (BENCHMARKS.md).
func exactCents(d decimal.Decimal) (int64, bool) {
	exp := d.Exponent()
	// At most 16 digits, so that scaling by up to 100 stays below 2^63; NumDigits does not
	// allocate for such a coefficient.
	if exp < -2 || exp > 0 || d.NumDigits() > 16 {
		return 0, false
	}
	c := d.CoefficientInt64()
	switch exp {
	case -2:
		return c, true
	case -1:
		return c * 10, true
	default:
		return c * 100, true
	}
}

// formatCents writes a number of cents as an amount: "-12.05", "0.07", "1234.00".
func formatCents(cents int64) string {
	var buf [24]byte
	return string(appendCents(buf[:0], cents))
}

// appendCents appends cents as an amount with two decimals.
func appendCents(b []byte, cents int64) []byte {
	u := uint64(cents)
	if cents < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/100, 10)
	frac := u % 100
	return append(b, '.', byte('0'+frac/10), byte('0'+frac%10))
}

// ParseAmountJSON decodes one amount field of a JSON body. A missing field, null, or anything
// that is neither a string nor a number is invalid_request; a number, or a string that is not a
// valid amount, is invalid_amount (PROTOCOL.md §2).
func ParseAmountJSON(field string, raw json.RawMessage) (decimal.Decimal, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return decimal.Decimal{}, Errorf(CodeInvalidRequest, "%s is required", field)
	}
	switch {
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return decimal.Decimal{}, Errorf(CodeInvalidRequest, "%s is not a valid JSON string", field)
		}
		return parseAmount(field, s)
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return decimal.Decimal{}, Errorf(CodeInvalidAmount, "%s must be a string like \"12.50\", not a JSON number", field)
	default:
		return decimal.Decimal{}, Errorf(CodeInvalidRequest, "%s must be a string like \"12.50\"", field)
	}
}

// ParseOptionalAmountJSON is ParseAmountJSON for fields that may be absent or null: it reports
// ok=false for those.
func ParseOptionalAmountJSON(field string, raw json.RawMessage) (d decimal.Decimal, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return decimal.Decimal{}, false, nil
	}
	d, err = ParseAmountJSON(field, raw)
	return d, err == nil, err
}
