package auction

import (
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Limits of a new auction (PROTOCOL.md §5).
const (
	MaxTitleLen          = 200
	MaxDescriptionLen    = 10000
	MaxExtensionSeconds  = 3600
	amountFractionDigits = 2
)

// NewAuctionInput is a seller's request for a new auction, already decoded from JSON or a form.
// Optional fields are nil or invalid when absent; amounts are values, so a form parser may hand
// over anything the decimal parser accepts and Validate still enforces the money rules.
type NewAuctionInput struct {
	Title, Description        string
	StartingPrice             decimal.Decimal
	ReservePrice, BuyNowPrice decimal.NullDecimal
	StartsAt                  *time.Time
	EndsAt                    time.Time
	ExtensionSeconds          *int
}

// NewAuction is a validated new auction with its defaults applied: text trimmed, amounts with two
// fraction digits, times in UTC truncated to the millisecond the wire can carry.
type NewAuction struct {
	Title, Description        string
	StartingPrice             decimal.Decimal
	ReservePrice, BuyNowPrice decimal.NullDecimal
	StartsAt, EndsAt          time.Time
	ExtensionSeconds          int
}

// ValidationError reports every bad field of a request at once, keyed by the JSON field name, so a
// form can show each message next to its field. It unwraps to an *Error, so ErrorCode, ErrorMessage
// and errors.Is treat it like any other domain error.
type ValidationError struct {
	Fields map[string]*Error
}

// fieldOrder is the order of the new-auction form; messages are listed in it so they read top to
// bottom like the form.
var fieldOrder = []string{"title", "description", "starting_price", "reserve_price", "buy_now_price", "starts_at", "ends_at", "extension_seconds"}

// names returns the field names in form order, then any others sorted, so messages are stable.
func (v *ValidationError) names() []string {
	names := make([]string, 0, len(v.Fields))
	known := make(map[string]bool, len(fieldOrder))
	for _, name := range fieldOrder {
		known[name] = true
		if _, ok := v.Fields[name]; ok {
			names = append(names, name)
		}
	}
	var rest []string
	for name := range v.Fields {
		if !known[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}

// message lists every field with its message.
func (v *ValidationError) message() string {
	var b strings.Builder
	for i, name := range v.names() {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(v.Fields[name].Message)
	}
	return b.String()
}

// Error lists every bad field with its message, in the order of the form.
func (v *ValidationError) Error() string { return "invalid auction: " + v.message() }

// Code is invalid_request when any field is, else invalid_amount: a request with a malformed
// field is malformed as a whole, and only one that is wrong about money alone is a 422.
func (v *ValidationError) Code() Code {
	if len(v.Fields) == 0 {
		return CodeInvalidRequest
	}
	for _, e := range v.Fields {
		if e.Code == CodeInvalidRequest {
			return CodeInvalidRequest
		}
	}
	return CodeInvalidAmount
}

// Unwrap gives the single domain error the API answers with: the overall code and every field's
// message.
func (v *ValidationError) Unwrap() error { return &Error{Code: v.Code(), Message: v.message()} }

// Validate checks a new auction by PROTOCOL.md §5 and returns it normalized, or a *ValidationError
// naming every bad field. now is the server clock, which alone decides what "in the future" means.
func (in NewAuctionInput) Validate(now time.Time) (NewAuction, error) {
	fields := map[string]*Error{}
	bad := func(field string, code Code, format string, args ...any) {
		fields[field] = Errorf(code, format, args...)
	}
	out := NewAuction{
		Title:       strings.TrimSpace(in.Title),
		Description: strings.TrimSpace(in.Description),
	}

	// Invalid UTF-8 and NUL would be refused by PostgreSQL later as an internal error; they are
	// the client's mistake, so say so here.
	switch n := utf8.RuneCountInString(out.Title); {
	case !isStorableText(out.Title):
		bad("title", CodeInvalidRequest, "The title contains characters that are not allowed.")
	case n == 0:
		bad("title", CodeInvalidRequest, "Enter a title.")
	case n > MaxTitleLen:
		bad("title", CodeInvalidRequest, "The title can be at most %d characters; it has %d.", MaxTitleLen, n)
	}
	switch n := utf8.RuneCountInString(out.Description); {
	case !isStorableText(out.Description):
		bad("description", CodeInvalidRequest, "The description contains characters that are not allowed.")
	case n > MaxDescriptionLen:
		bad("description", CodeInvalidRequest, "The description can be at most %d characters; it has %d.", MaxDescriptionLen, n)
	}

	// A bad amount is invalid_amount (PROTOCOL.md §2); comparisons are made only between amounts
	// that are themselves valid, so one mistake is reported once, on its own field.
	startOK := false
	if msg := amountProblem(in.StartingPrice); msg != "" {
		bad("starting_price", CodeInvalidAmount, "The starting price %s.", msg)
	} else {
		startOK = true
		out.StartingPrice = in.StartingPrice.Round(amountFractionDigits)
	}
	reserveOK := false
	if in.ReservePrice.Valid {
		switch msg := amountProblem(in.ReservePrice.Decimal); {
		case msg != "":
			bad("reserve_price", CodeInvalidAmount, "The reserve price %s.", msg)
		case startOK && in.ReservePrice.Decimal.LessThan(out.StartingPrice):
			bad("reserve_price", CodeInvalidAmount, "The reserve price cannot be below the starting price (%s).", FormatAmount(out.StartingPrice))
		default:
			reserveOK = true
			out.ReservePrice = decimal.NewNullDecimal(in.ReservePrice.Decimal.Round(amountFractionDigits))
		}
	}
	if in.BuyNowPrice.Valid {
		switch msg := amountProblem(in.BuyNowPrice.Decimal); {
		case msg != "":
			bad("buy_now_price", CodeInvalidAmount, "The buy-now price %s.", msg)
		case startOK && in.BuyNowPrice.Decimal.LessThan(out.StartingPrice):
			bad("buy_now_price", CodeInvalidAmount, "The buy-now price cannot be below the starting price (%s).", FormatAmount(out.StartingPrice))
		case reserveOK && in.BuyNowPrice.Decimal.LessThan(out.ReservePrice.Decimal):
			bad("buy_now_price", CodeInvalidAmount, "The buy-now price cannot be below the reserve price (%s).", FormatAmount(out.ReservePrice.Decimal))
		default:
			out.BuyNowPrice = decimal.NewNullDecimal(in.BuyNowPrice.Decimal.Round(amountFractionDigits))
		}
	}

	// Times are compared as they will be stored and shown, to the millisecond.
	startsOK := true
	out.StartsAt = wireTime(now)
	if in.StartsAt != nil {
		switch t := *in.StartsAt; {
		case t.IsZero():
			startsOK = false
			bad("starts_at", CodeInvalidRequest, "Enter a valid start time, or leave it empty to start now.")
		case !onWire(t):
			startsOK = false
			bad("starts_at", CodeInvalidRequest, "The start time must be between the years 0001 and 9999.")
		default:
			out.StartsAt = wireTime(t)
		}
	}
	out.EndsAt = wireTime(in.EndsAt)
	switch {
	case in.EndsAt.IsZero():
		bad("ends_at", CodeInvalidRequest, "Enter an end time.")
	case !out.EndsAt.After(now):
		bad("ends_at", CodeInvalidRequest, "The end time must be in the future.")
	case !onWire(in.EndsAt):
		bad("ends_at", CodeInvalidRequest, "The end time must be before the year 10000.")
	case startsOK && !out.EndsAt.After(out.StartsAt):
		bad("ends_at", CodeInvalidRequest, "The end time must be after the start time (%s).", FormatTime(out.StartsAt))
	}

	out.ExtensionSeconds = DefaultExtensionSeconds
	if in.ExtensionSeconds != nil {
		if ext := *in.ExtensionSeconds; ext < 0 || ext > MaxExtensionSeconds {
			bad("extension_seconds", CodeInvalidRequest, "The extension must be between 0 and %d seconds; 0 turns soft close off.", MaxExtensionSeconds)
		} else {
			out.ExtensionSeconds = ext
		}
	}

	if len(fields) > 0 {
		return NewAuction{}, &ValidationError{Fields: fields}
	}
	return out, nil
}

// amountProblem describes what is wrong with an amount for a sentence that starts with its name,
// or returns "" when it is fine. It repeats ParseAmount's rules for values that did not come
// through ParseAmount.
func amountProblem(d decimal.Decimal) string {
	switch {
	case !d.IsPositive():
		return "must be above 0"
	case d.GreaterThanOrEqual(maxAmount):
		return "must be below 1000000000000"
	case !d.Equal(d.Round(amountFractionDigits)):
		return "can have at most two digits after the decimal point"
	}
	return ""
}

func isStorableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// onWire reports whether t fits RFC 3339's four-digit years, which every time we store must
// because every stored time is also shown.
func onWire(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}

func wireTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
