package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// errorBody is the one error shape of the API: {"error":{"code","message"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    auction.Code `json:"code"`
	Message string       `json:"message"`
}

// statusOf is the one place that maps an error code to an HTTP status (PROTOCOL.md §5).
func statusOf(code auction.Code) int {
	switch code {
	case auction.CodeInvalidRequest:
		return fiber.StatusBadRequest
	case auction.CodeInvalidAmount:
		return fiber.StatusUnprocessableEntity
	case auction.CodeUnauthenticated:
		return fiber.StatusUnauthorized
	case auction.CodeForbidden:
		return fiber.StatusForbidden
	case auction.CodeNotFound:
		return fiber.StatusNotFound
	case auction.CodeConflict:
		return fiber.StatusConflict
	case auction.CodeRateLimited:
		return fiber.StatusTooManyRequests
	case auction.CodeBidTooLow, auction.CodeAuctionNotOpen, auction.CodeAuctionClosed,
		auction.CodeOwnAuction, auction.CodeBuyNowUnavailable:
		return fiber.StatusUnprocessableEntity
	case auction.CodeUnavailable:
		return fiber.StatusServiceUnavailable
	default:
		return fiber.StatusInternalServerError
	}
}

// codeOfStatus names Fiber's own errors (no such route, body too large, …), which come with a
// status but no code, by the code that the contract uses for that kind of status.
func codeOfStatus(status int) auction.Code {
	switch {
	case status == fiber.StatusUnauthorized:
		return auction.CodeUnauthenticated
	case status == fiber.StatusForbidden:
		return auction.CodeForbidden
	case status == fiber.StatusNotFound:
		return auction.CodeNotFound
	case status == fiber.StatusConflict:
		return auction.CodeConflict
	case status == fiber.StatusTooManyRequests:
		return auction.CodeRateLimited
	case status == fiber.StatusServiceUnavailable:
		return auction.CodeUnavailable
	case status >= 500:
		return auction.CodeInternal
	default:
		// 405, 413, 431, …: the request itself is at fault.
		return auction.CodeInvalidRequest
	}
}

// handleError is the Fiber ErrorHandler: it answers every error, whether a handler returned it
// or Fiber raised it, with the JSON error shape. Internal errors are logged with their details
// and answered with a generic message, so that no query or driver text reaches a client.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	// Errors the HTTP server raises before any route runs (a body or header too large, a read
	// timeout) come here without the middlewares: the security headers are set here too, and
	// on a page path such an error is a page like the pages' other errors.
	s.setSecurityHeaders(c)
	// (Unless the request line itself could not be read, as with headers too large: then
	// nothing says which side the request was for, and it gets JSON.)
	if !routed(c) && len(c.Request().Header.RawHeaders()) > 0 && s.pagePath(c.Path()) {
		setPageHeaders(c)
		return s.renderError(c, err)
	}
	status, code, msg := s.describe(c, err)
	if status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="auctionhouse"`)
	}
	setRetryAfter(c, status, err)
	return c.Status(status).JSON(errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// setRetryAfter tells a client refused for now when to try again: the wait a rate limit knows
// (limitedError), or a second for an overloaded or shutting-down server.
func setRetryAfter(c *fiber.Ctx, status int, err error) {
	var le *limitedError
	switch {
	case errors.As(err, &le):
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds(le.retryAfter))
	case status == fiber.StatusServiceUnavailable:
		c.Set(fiber.HeaderRetryAfter, "1")
	}
}

// describe turns err into the status, code and message to answer with.
func (s *Server) describe(c *fiber.Ctx, err error) (int, auction.Code, string) {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		status := fe.Code
		code := codeOfStatus(status)
		switch status {
		case fiber.StatusNotFound:
			return status, code, fmt.Sprintf("no such route: %s %s", c.Method(), c.Path())
		case fiber.StatusMethodNotAllowed:
			return status, code, fmt.Sprintf("method %s is not allowed on %s", c.Method(), c.Path())
		case fiber.StatusRequestEntityTooLarge:
			return status, code, fmt.Sprintf("the request body is larger than %d bytes", s.cfg.BodyLimit)
		}
		if code == auction.CodeInternal {
			s.logInternal(c, err)
			return status, code, auction.ErrorMessage(err)
		}
		return status, code, fe.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("request timed out", "request_id", requestID(c), "path", c.Path(), "err", err)
		return fiber.StatusServiceUnavailable, auction.CodeUnavailable, "the server is busy; try again"
	}
	code := auction.ErrorCode(err)
	if code == auction.CodeInternal {
		s.logInternal(c, err)
	}
	return statusOf(code), code, auction.ErrorMessage(err)
}

func (s *Server) logInternal(c *fiber.Ctx, err error) {
	s.log.Error("internal error", "method", c.Method(), "path", c.Path(), "request_id", requestID(c), "err", err)
}
