package main

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Every live message is parsed, and a watcher of a busy auction gets tens of thousands of
// states per second across its connections, so states are read with a small scanner that walks
// the top-level members of the message and of its "auction" object, skipping nested values
// (seller, high_bidder, winner, and any extra field a server adds) without decoding them. The
// answers to bids, one per bid, are read by the same scanner (parseReply). Fuzz tests hold both
// to what encoding/json reads.

// liveState is the part of an auction object (PROTOCOL.md §4) the bench follows.
type liveState struct {
	ID       int64
	Seq      int64
	BidCount int64
	Watchers int64
	Status   string
	// Price is current_price, "" while it is null; MinNext is min_next_bid.
	Price   string
	MinNext string
}

// liveMsg is a server message: its type and, for snapshot and auction, the state.
type liveMsg struct {
	Type     string
	HasState bool
	State    liveState
}

var errSyntax = errors.New("malformed JSON")

// parseLive reads a server message in one pass: the "auction" object is read where it stands,
// not skipped over first and then read again, which made every state cost twice its length.
func parseLive(b []byte) (liveMsg, error) {
	var m liveMsg
	var state liveState
	var stateErr error
	hasAuction := false
	err := eachMember(b, func(key []byte, i int) (int, error) {
		switch string(key) {
		case "type":
			end, err := skipValue(b, i)
			if err != nil {
				return 0, err
			}
			m.Type, err = stringValue(b[i:end])
			return end, err
		case "auction":
			if i < len(b) && b[i] == '{' {
				hasAuction = true
				var end int
				state, end, stateErr = parseState(b, i)
				return end, nil
			}
		}
		return skipValue(b, i)
	})
	if err != nil {
		return m, err
	}
	if m.Type == "" {
		return m, fmt.Errorf("message without a type")
	}
	if hasAuction && (m.Type == "snapshot" || m.Type == "auction") {
		if stateErr != nil {
			return m, stateErr
		}
		m.State, m.HasState = state, true
	}
	return m, nil
}

// parseState reads the followed members of the auction object that starts at b[i], and returns
// the index just past it. A malformed object is a syntax error (the message cannot be read); a
// well-formed one without the followed members, or with one of the wrong type, is stateErr,
// which matters only when the message is a state.
func parseState(b []byte, i int) (s liveState, end int, stateErr error) {
	seen := 0
	end, err := members(b, i, valued(b, func(key, val []byte) (err error) {
		switch string(key) {
		case "id":
			s.ID, err = intValue(val)
		case "seq":
			s.Seq, err = intValue(val)
			seen++
		case "bid_count":
			s.BidCount, err = intValue(val)
			seen++
		case "watchers":
			s.Watchers, err = intValue(val)
		case "status":
			s.Status, err = stringValue(val)
		case "current_price":
			s.Price, err = stringValue(val)
		case "min_next_bid":
			s.MinNext, err = stringValue(val)
		}
		if err != nil && stateErr == nil {
			stateErr = fmt.Errorf("auction.%s: %w", key, err)
		}
		return nil
	}))
	if err != nil {
		return s, 0, err
	}
	if stateErr == nil && seen < 2 {
		stateErr = fmt.Errorf("auction object without seq or bid_count")
	}
	return s, end, stateErr
}

// eachMember walks the members of the JSON object b. Keys are compared as written: the
// contract's keys need no escapes. For each member fn gets the key and the index in b of its
// value, and returns the index just past that value, having read it or skipped it (skipValue).
func eachMember(b []byte, fn func(key []byte, i int) (int, error)) error {
	_, err := members(b, skipSpace(b, 0), fn)
	return err
}

// members is eachMember for the object that starts at b[i]; it returns the index just past it.
func members(b []byte, i int, fn func(key []byte, i int) (int, error)) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return 0, errSyntax
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		end, err := skipString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		i = skipSpace(b, i+1)
		vend, err := fn(key, i)
		if err != nil {
			return 0, err
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return 0, errSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, errSyntax
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errSyntax
}

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errSyntax
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errSyntax
	}
	return j, nil
}

// intValue reads a non-negative JSON integer.
func intValue(v []byte) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return 0, fmt.Errorf("not an integer: %.20s", v)
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not an integer: %.20s", v)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// stringValue reads a JSON string; null reads as "".
func stringValue(v []byte) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("not a string: %.20s", v)
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			err := json.Unmarshal(v, &s)
			return s, err
		}
	}
	// The few values the bench reads as text are interned to avoid one allocation per message.
	switch string(inner) {
	case "snapshot":
		return "snapshot", nil
	case "auction":
		return "auction", nil
	case "open":
		return "open", nil
	}
	return string(inner), nil
}

// parseReply reads a bid's answer (bid_accepted, bid_rejected, or an error message) as
// encoding/json reads it into a bidReply: missing members and nulls leave the zero value, and a
// member of the wrong kind is an error. In hot and many every bid has one, and encoding/json
// took a tenth of the tool's CPU there.
func parseReply(b []byte) (bidReply, error) {
	var r bidReply
	err := eachMember(b, valued(b, func(key, v []byte) (err error) {
		switch string(key) {
		case "type":
			r.Type, err = stringValue(v)
		case "request_id":
			r.RequestID, err = stringValue(v)
		case "leading":
			r.Leading, err = boolValue(v)
		case "bid":
			err = objectValue(v, func(key, v []byte) (err error) {
				switch string(key) {
				case "id":
					r.Bid.ID, err = intOrNull(v)
				case "amount":
					r.Bid.Amount, err = stringValue(v)
				}
				return err
			})
		case "error":
			err = objectValue(v, func(key, v []byte) (err error) {
				switch string(key) {
				case "code":
					r.Error.Code, err = stringValue(v)
				case "message":
					r.Error.Message, err = stringValue(v)
				}
				return err
			})
		}
		return err
	}))
	return r, err
}

// objectValue calls fn with the key and raw value of each member of the object v; null is an
// object without members.
func objectValue(v []byte, fn func(key, val []byte) error) error {
	if string(v) == "null" {
		return nil
	}
	_, err := members(v, 0, valued(v, fn))
	return err
}

// valued is a callback for members and eachMember that skips each value in b and gives fn the
// key and the raw value.
func valued(b []byte, fn func(key, val []byte) error) func(key []byte, i int) (int, error) {
	return func(key []byte, i int) (int, error) {
		end, err := skipValue(b, i)
		if err != nil {
			return 0, err
		}
		return end, fn(key, b[i:end])
	}
}

// intOrNull is intValue with null read as 0.
func intOrNull(v []byte) (int64, error) {
	if string(v) == "null" {
		return 0, nil
	}
	return intValue(v)
}

// boolValue reads true, false, or null (false).
func boolValue(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %.20s", v)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
