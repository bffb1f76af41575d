package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// decodeJSON decodes a request body that must be exactly one JSON object into dst. Every way a
// body can be wrong (empty, not JSON, not an object, trailing data, a field of the wrong type)
// is an invalid_request error whose message says what was wrong and where. Unknown fields are
// ignored, so that clients may send more than a route reads.
func decodeJSON(c *fiber.Ctx, dst any) error { return decodeJSONBytes(c.Body(), dst) }

// decodeJSONBytes is decodeJSON for a body that did not come over HTTP: a WebSocket message.
func decodeJSONBytes(body []byte, dst any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return auction.Errorf(auction.CodeInvalidRequest, "the request body must be a JSON object; it is empty")
	}
	if trimmed[0] != '{' {
		return auction.Errorf(auction.CodeInvalidRequest, "the request body must be a JSON object")
	}
	// Unmarshal checks that the body is one JSON value before it decodes, so a body it refuses
	// for its syntax is left to the stream decoder below, whose errors say more (trailing data,
	// an early end). Unmarshal allocates about a third of the decoder's bytes, and every
	// WebSocket bid comes this way.
	err := json.Unmarshal(body, dst)
	var syntaxErr *json.SyntaxError
	if !errors.As(err, &syntaxErr) {
		if err != nil {
			return jsonError(err)
		}
		return nil
	}
	return decodeJSONStream(body, dst)
}

// decodeJSONStream decodes body with a stream decoder, for the precise error of a body that is
// not one JSON value.
func decodeJSONStream(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	// A second value, or anything that is not JSON, after the object: the client built the body
	// wrong, and guessing which part it meant would hide that.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return auction.Errorf(auction.CodeInvalidRequest, "the request body must hold one JSON object and nothing after it")
	}
	return nil
}

// jsonError describes a decoding failure for the client.
func jsonError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return auction.Errorf(auction.CodeInvalidRequest, "malformed JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return auction.Errorf(auction.CodeInvalidRequest, "the request body must be a JSON object")
		}
		return auction.Errorf(auction.CodeInvalidRequest, "%s must be %s, not a JSON %s", typeErr.Field, jsonTypeName(typeErr.Type), typeErr.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return auction.Errorf(auction.CodeInvalidRequest, "malformed JSON: the body ends before the object does")
	default:
		// Not the client's doing (e.g. a wire struct the decoder cannot fill): a bug of ours.
		return fmt.Errorf("decode request body: %w", err)
	}
}

// jsonTypeName names the JSON type a Go field of type t accepts, for error messages.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}

// parseTime parses an input time: RFC 3339, with or without a fraction of a second
// (PROTOCOL.md §2). time.RFC3339Nano accepts both when parsing.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, auction.Errorf(auction.CodeInvalidRequest, "%s must be an RFC 3339 time like \"2026-11-24T20:15:03Z\"", field)
	}
	return t, nil
}

// auctionIDParam reads the {id} of an auction route. Anything but a positive decimal integer
// cannot name an auction, so it is not_found rather than invalid_request: the URL names nothing.
func auctionIDParam(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	if !isDigits(raw) {
		return 0, auction.Errorf(auction.CodeNotFound, "no auction %q", truncateForMessage(raw))
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, auction.Errorf(auction.CodeNotFound, "no auction %q", truncateForMessage(raw))
	}
	return id, nil
}

// maxQueryInt is what queryInt makes of a larger number: a limit is clamped anyway (PROTOCOL.md
// §5: "larger is clamped", however large), an offset or a page number that far is past any
// list, and arithmetic on it (page × page size) cannot overflow.
const maxQueryInt = math.MaxInt32

// queryInt reads an optional non-negative integer query parameter; absent or empty gives def,
// and a number over maxQueryInt gives maxQueryInt.
func queryInt(c *fiber.Ctx, name string, def int) (int, error) {
	raw := c.Query(name)
	if raw == "" {
		return def, nil
	}
	if !isDigits(raw) {
		return 0, auction.Errorf(auction.CodeInvalidRequest, "%s must be a non-negative integer", name)
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n > maxQueryInt {
		// Only digits, so the one error left is a number out of range.
		return maxQueryInt, nil
	}
	return n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncateForMessage keeps client-supplied text in messages short.
func truncateForMessage(s string) string {
	const maxLen = 32
	if len(s) > maxLen {
		return s[:maxLen] + "…"
	}
	return s
}
