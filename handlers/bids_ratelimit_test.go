package handlers

import (
	"net/http"
	"testing"
	"time"

	"auctionhouse/auction"
)

// TestHTTPBidsShareTheRateLimit: SSE clients bid over HTTP, so HTTP bids draw on the same
// per-user bucket as WebSocket bids; otherwise the limit would be one protocol switch away.
func TestHTTPBidsShareTheRateLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		now := time.Now()
		e.srv.live.bidLimit.now = func() time.Time { return now }
		ann, bob, cyd := e.signup("ann"), e.signup("bob"), e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "100.00"})
		for range wsBidBurst {
			e.do(http.MethodPost, "/api/v1/auctions/"+itoa(a.ID)+"/bids", `{"amount":"1.00"}`, as(bob)).
				expectError(t, http.StatusUnprocessableEntity, auction.CodeBidTooLow)
		}
		e.do(http.MethodPost, "/api/v1/auctions/"+itoa(a.ID)+"/bids", `{"amount":"100.00"}`, as(bob)).
			expectError(t, http.StatusTooManyRequests, auction.CodeRateLimited)
		if got := e.get(a.ID); got.BidCount != 0 {
			t.Fatalf("a refused bid changed the auction: bid_count %d", got.BidCount)
		}
		e.do(http.MethodPost, "/api/v1/auctions/"+itoa(a.ID)+"/bids", `{"amount":"100.00"}`, as(cyd)).expect(t, http.StatusCreated)
	})
}

// TestFormBidsShareTheRateLimit: the no-JavaScript bid form is a third way to bid and draws on
// the same bucket.
func TestFormBidsShareTheRateLimit(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		now := time.Now()
		e.srv.live.bidLimit.now = func() time.Time { return now }
		seller := e.signup("seller")
		a := e.createAuction(seller, map[string]any{"starting_price": "100.00"})
		id := itoa(a.ID)
		b := e.browser()
		b.signupForm("bidder")
		tok := csrfOf(t, b.get("/auctions/"+id))
		form := map[string][]string{"_csrf": {tok}, "amount": {"1.00"}}
		for range wsBidBurst {
			b.post("/auctions/"+id+"/bid", form).expectRedirect(t, "/auctions/"+id+"?msg=bid_too_low")
		}
		form["amount"] = []string{"100.00"}
		b.post("/auctions/"+id+"/bid", form).expectRedirect(t, "/auctions/"+id+"?msg=rate_limited")
		if n := len(e.bidsOf(a.ID)); n != 0 {
			t.Fatalf("a rate-limited form bid was placed: %d bids", n)
		}
	})
}
