package handlers

import (
	"testing"

	"auctionhouse/auction"
)

// FuzzBidRequestJSON fuzzes the body of POST /api/v1/auctions/{id}/bids; see ws_fuzz_test.go for
// the properties and the seeds.
func FuzzBidRequestJSON(f *testing.F) {
	for _, s := range bidSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// placeBid's decoding: the body, then the fields.
		var req bidRequest
		if err := decodeJSONBytes(body, &req); err != nil {
			checkRefusal(t, body, err, auction.CodeInvalidRequest)
			return
		}
		bid, err := req.toBid(fuzzBidder)
		if err != nil {
			checkRefusal(t, body, err, auction.CodeInvalidRequest, auction.CodeInvalidAmount)
			return
		}
		checkBid(t, body, bid)

		again := encodeBid("", bid)
		var req2 bidRequest
		if err := decodeJSONBytes(again, &req2); err != nil {
			t.Fatalf("%q: re-encoded as %s, refused: %v", body, again, err)
		}
		bid2, err := req2.toBid(fuzzBidder)
		if err != nil {
			t.Fatalf("%q: re-encoded as %s, refused: %v", body, again, err)
		}
		sameBid(t, body, bid, bid2)

		// The same fields as a WebSocket message are decided the same way: both paths share
		// toBid, and must keep sharing it.
		wsBid, err := decodeWSMessage(encodeBid("bid", bid))
		if err != nil {
			t.Fatalf("%q: the same bid over the WebSocket is refused: %v", body, err)
		}
		bid3, err := wsBid.toBid(fuzzBidder)
		if err != nil {
			t.Fatalf("%q: the same bid over the WebSocket is refused: %v", body, err)
		}
		sameBid(t, body, bid, bid3)
	})
}
