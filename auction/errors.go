// Package auction is the bidding engine: the auction rules as pure functions, one actor per
// auction that serializes and persists its commands, the registry that starts and stops actors,
// and the subscriptions that carry the newest state to watchers. It knows nothing of HTTP.
package auction

import (
	"errors"
	"fmt"
)

// Code is a machine-readable error code of the external contract (PROTOCOL.md §5). The handlers
// map each code to an HTTP status in one place.
type Code string

// The error codes of the contract, plus internal and unavailable for failures that are ours.
const (
	CodeInvalidRequest    Code = "invalid_request"
	CodeInvalidAmount     Code = "invalid_amount"
	CodeUnauthenticated   Code = "unauthenticated"
	CodeForbidden         Code = "forbidden"
	CodeNotFound          Code = "not_found"
	CodeConflict          Code = "conflict"
	CodeRateLimited       Code = "rate_limited"
	CodeBidTooLow         Code = "bid_too_low"
	CodeAuctionNotOpen    Code = "auction_not_open"
	CodeAuctionClosed     Code = "auction_closed"
	CodeOwnAuction        Code = "own_auction"
	CodeBuyNowUnavailable Code = "buy_now_unavailable"
	CodeUnavailable       Code = "unavailable"
	CodeInternal          Code = "internal"
)

// Error is a domain error: a code for machines and a message for people.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is makes errors.Is match any *Error with the same code, so the sentinels below work with
// errors whose messages carry details.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels for errors.Is; the errors actually returned carry more specific messages.
var (
	ErrInvalidRequest    = &Error{Code: CodeInvalidRequest, Message: "invalid request"}
	ErrInvalidAmount     = &Error{Code: CodeInvalidAmount, Message: "invalid amount"}
	ErrUnauthenticated   = &Error{Code: CodeUnauthenticated, Message: "sign in first"}
	ErrForbidden         = &Error{Code: CodeForbidden, Message: "forbidden"}
	ErrNotFound          = &Error{Code: CodeNotFound, Message: "not found"}
	ErrConflict          = &Error{Code: CodeConflict, Message: "conflict"}
	ErrBidTooLow         = &Error{Code: CodeBidTooLow, Message: "bid too low"}
	ErrAuctionNotOpen    = &Error{Code: CodeAuctionNotOpen, Message: "the auction has not started"}
	ErrAuctionClosed     = &Error{Code: CodeAuctionClosed, Message: "the auction is closed"}
	ErrOwnAuction        = &Error{Code: CodeOwnAuction, Message: "you cannot bid on or buy your own auction"}
	ErrBuyNowUnavailable = &Error{Code: CodeBuyNowUnavailable, Message: "buy now is not available"}
	ErrUnavailable       = &Error{Code: CodeUnavailable, Message: "the auction engine is shutting down or unavailable; try again"}
)

// ErrorCode returns the code of err, or CodeInternal when err is not a domain error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message meant for people: the domain message, or a generic one for
// internal errors, whose details belong in the log and not in an answer.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
