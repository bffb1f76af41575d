package handlers

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"auctionhouse/auction"
)

// Fuzz targets of the decoders of untrusted input: WebSocket messages and HTTP bid bodies (this
// file) and the seller's form (pages_sell_fuzz_test.go). Each checks properties of every
// outcome, not only that nothing panics:
//
//   - a refusal is a domain error with the code the contract gives (invalid_request, or
//     invalid_amount for a bad amount), never an internal error, and it encodes to the
//     contract's error shape;
//   - an accepted bid keeps the contract's promises (amounts in range with at most two fraction
//     digits, request_id valid UTF-8 of at most 64 characters);
//   - an accepted bid encoded again as a client would send it decodes to the same bid.
//
// go test -run '^$' -fuzz '^FuzzWSMessage$' -fuzztime 10s ./handlers (and likewise the others)

// bidSeeds are bodies and messages worth starting from: valid bids, every kind of wrong amount
// of PROTOCOL.md §2, wrong types, trailing data and odd JSON.
var bidSeeds = []string{
	`{"type":"bid","request_id":"r1","amount":"12.50","max_amount":"20.00"}`,
	`{"type":"bid","amount":"1"}`,
	`{"type":"bid","amount":"007.1","request_id":""}`,
	`{"type":"bid","amount":"999999999999.99"}`,
	`{"type":"bid","amount":"1000000000000"}`,
	`{"type":"bid","amount":12.5}`,
	`{"type":"bid","amount":-1}`,
	`{"type":"bid","amount":"1e3"}`,
	`{"type":"bid","amount":"12.345"}`,
	`{"type":"bid","amount":"NaN"}`,
	`{"type":"bid","amount":" 5"}`,
	`{"type":"bid","amount":true}`,
	`{"type":"bid","amount":{}}`,
	`{"type":"bid","amount":null}`,
	`{"type":"bid"}`,
	`{"type":"bid","amount":"5","max_amount":null}`,
	`{"type":"bid","amount":"5","max_amount":"4"}`,
	`{"type":"bid","amount":"5","max_amount":5}`,
	`{"type":"bid","amount":"5","request_id":7}`,
	`{"type":"bid","amount":"5","request_id":"` + strings.Repeat("é", 64) + `"}`,
	`{"type":"bid","amount":"5","request_id":"` + strings.Repeat("x", 65) + `"}`,
	`{"type":"bid","amount":"5","request_id":"\ud800"}`,
	"{\"type\":\"bid\",\"amount\":\"5\",\"request_id\":\"\xff\"}",
	`{"type":"bid","amount":"1","amount":"2"}`,
	`{"type":"bid","amount":"1"} {}`,
	`{"type":"bid","amount":"1"`,
	`{"type":"ping"}`,
	`{"type":null}`,
	`{"type":1}`,
	`{}`,
	`[]`,
	`"bid"`,
	``,
	` `,
	`null`,
	`{"type":"bid","amount":"1","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
}

// checkRefusal fails the test unless err is a domain error with one of the codes, which the
// live protocol's error shape can carry.
func checkRefusal(t *testing.T, input []byte, err error, codes ...auction.Code) {
	t.Helper()
	code := auction.ErrorCode(err)
	ok := false
	for _, c := range codes {
		ok = ok || code == c
	}
	if !ok {
		t.Fatalf("%q: refused with %q (%v), want one of %v", input, code, err, codes)
	}
	var msg struct {
		Type  string      `json:"type"`
		Error errorDetail `json:"error"`
	}
	if jerr := json.Unmarshal(errorMessage(nil, err), &msg); jerr != nil || msg.Type != "error" || msg.Error.Code != code || msg.Error.Message == "" {
		t.Fatalf("%q: the error message does not encode to the error shape: %v %+v", input, jerr, msg)
	}
}

// checkBid fails the test unless an accepted bid keeps the contract's promises.
func checkBid(t *testing.T, input []byte, bid auction.BidRequest) {
	t.Helper()
	limit := decimal.New(1, 12)
	okAmount := func(d decimal.Decimal) bool {
		return d.IsPositive() && d.LessThan(limit) && d.Equal(d.Round(2))
	}
	if !okAmount(bid.Amount) {
		t.Fatalf("%q: accepted amount %s", input, bid.Amount)
	}
	if !bid.MaxAmount.IsZero() && !okAmount(bid.MaxAmount) {
		t.Fatalf("%q: accepted max_amount %s", input, bid.MaxAmount)
	}
	if !utf8.ValidString(bid.RequestID) || utf8.RuneCountInString(bid.RequestID) > maxBidRequestIDLen {
		t.Fatalf("%q: accepted request_id %q", input, bid.RequestID)
	}
	if bid.Bidder != fuzzBidder {
		t.Fatalf("%q: bidder %+v", input, bid.Bidder)
	}
}

// encodeBid writes a bid the way a client would send it; with msgType, as a WebSocket message.
func encodeBid(msgType string, bid auction.BidRequest) []byte {
	m := map[string]string{"amount": auction.FormatAmount(bid.Amount)}
	if msgType != "" {
		m["type"] = msgType
	}
	if !bid.MaxAmount.IsZero() {
		m["max_amount"] = auction.FormatAmount(bid.MaxAmount)
	}
	if bid.RequestID != "" {
		m["request_id"] = bid.RequestID
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// sameBid fails the test unless two bids are the same request.
func sameBid(t *testing.T, input []byte, a, b auction.BidRequest) {
	t.Helper()
	if !a.Amount.Equal(b.Amount) || !a.MaxAmount.Equal(b.MaxAmount) || a.RequestID != b.RequestID || a.Bidder != b.Bidder {
		t.Fatalf("%q: re-encoded bid decodes differently:\nfirst  %+v\nagain  %+v", input, a, b)
	}
}

var fuzzBidder = auction.UserRef{ID: 42, Name: "bob"}

func FuzzWSMessage(f *testing.F) {
	for _, s := range bidSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := decodeWSMessage(data)
		if err != nil {
			// The message as a whole is wrong: not JSON, not one object, no or an unknown type.
			checkRefusal(t, data, err, auction.CodeInvalidRequest)
			if msg.Type != nil && *msg.Type == "bid" {
				t.Fatalf("%q: a bid message refused by the decoder: %v", data, err)
			}
			return
		}
		if msg.Type == nil || *msg.Type != "bid" {
			t.Fatalf("%q: decoded without being a bid", data)
		}
		bid, err := msg.toBid(fuzzBidder)
		if err != nil {
			checkRefusal(t, data, err, auction.CodeInvalidRequest, auction.CodeInvalidAmount)
			var rej struct {
				Type      string  `json:"type"`
				RequestID *string `json:"request_id"`
			}
			if json.Unmarshal(rejected(msg.RequestID, err), &rej) != nil || rej.Type != "bid_rejected" ||
				(msg.RequestID == nil) != (rej.RequestID == nil) || (rej.RequestID != nil && *rej.RequestID != *msg.RequestID) {
				t.Fatalf("%q: the rejection does not carry the request_id: %+v", data, rej)
			}
			return
		}
		checkBid(t, data, bid)

		again := encodeBid("bid", bid)
		msg2, err := decodeWSMessage(again)
		if err != nil {
			t.Fatalf("%q: re-encoded as %s, refused: %v", data, again, err)
		}
		bid2, err := msg2.toBid(fuzzBidder)
		if err != nil {
			t.Fatalf("%q: re-encoded as %s, refused: %v", data, again, err)
		}
		sameBid(t, data, bid, bid2)
	})
}
