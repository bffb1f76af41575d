package handlers

import (
	"strings"
	"testing"
	"time"

	"auctionhouse/auction"
)

// bidAnswer is the answer to an accepted bid.
type bidAnswer struct {
	Bid struct {
		ID        int64  `json:"id"`
		Amount    string `json:"amount"`
		CreatedAt string `json:"created_at"`
	} `json:"bid"`
	Leading *bool         `json:"leading"`
	Auction *auction.View `json:"auction"`
}

func TestPlaceBid(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		cy := e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		bidsPath := "/api/v1/auctions/" + itoa(a.ID) + "/bids"

		var first bidAnswer
		t.Run("accepted", func(t *testing.T) {
			e.do("POST", bidsPath, `{"amount":"10","max_amount":"20.00","request_id":"r1"}`, as(bob)).expect(t, 201).decode(t, &first)
			if first.Bid.ID <= 0 || first.Bid.Amount != "10.00" || first.Leading == nil || !*first.Leading || first.Auction == nil {
				t.Fatalf("answer %+v", first)
			}
			if _, err := time.Parse(time.RFC3339, first.Bid.CreatedAt); err != nil {
				t.Errorf("created_at %q: %v", first.Bid.CreatedAt, err)
			}
			v := first.Auction
			if v.CurrentPrice == nil || *v.CurrentPrice != "10.00" || v.BidCount != 1 || v.HighBidder == nil || v.HighBidder.ID != bob.User.ID || v.MinNextBid != "10.50" {
				t.Errorf("auction after the bid %+v", v)
			}
			if showsAmount(string(e.do("GET", bidsPath, "").Body), "20.00") {
				t.Errorf("the maximum is shown")
			}
		})
		t.Run("repeated request id", func(t *testing.T) {
			var again bidAnswer
			e.do("POST", bidsPath, `{"amount":"10","max_amount":"20.00","request_id":"r1"}`, as(bob)).expect(t, 201).decode(t, &again)
			if again.Bid != first.Bid || *again.Leading != *first.Leading || again.Auction.BidCount != 1 {
				t.Errorf("repeat answered %+v, first %+v", again, first)
			}
		})
		t.Run("outbid by proxy", func(t *testing.T) {
			var ans bidAnswer
			e.do("POST", bidsPath, `{"amount":"15.00"}`, bearer(cy.Token)).expect(t, 201).decode(t, &ans)
			if *ans.Leading || *ans.Auction.CurrentPrice != "15.50" || ans.Auction.HighBidder.ID != bob.User.ID {
				t.Errorf("answer %+v, auction %+v", ans, ans.Auction)
			}
		})
		t.Run("with cookie and CSRF", func(t *testing.T) {
			e.do("POST", bidsPath, `{"amount":"16.50"}`, cookie(cy.Token), csrf(cy.CSRFToken)).expect(t, 201)
		})

		before := e.get(a.ID)
		bidsBefore := e.bidsOf(a.ID)
		long := strings.Repeat("r", 65)
		tests := []struct {
			name   string
			body   string
			opts   []reqOpt
			status int
			code   auction.Code
		}{
			{"too low", `{"amount":"17.00"}`, []reqOpt{as(cy)}, 422, auction.CodeBidTooLow},
			{"leader not raising its maximum", `{"amount":"18.00"}`, []reqOpt{as(bob)}, 422, auction.CodeBidTooLow},
			{"max below amount", `{"amount":"30.00","max_amount":"20.00"}`, []reqOpt{as(bob)}, 422, auction.CodeInvalidAmount},
			{"own auction", `{"amount":"100.00"}`, []reqOpt{as(ann)}, 422, auction.CodeOwnAuction},
			{"float amount", `{"amount":100.5}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"integer amount", `{"amount":100}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"three decimals", `{"amount":"100.005"}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"padded", `{"amount":" 100"}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"NaN", `{"amount":"NaN"}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"too big", `{"amount":"1000000000000"}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"max below amount, not leading", `{"amount":"100.00","max_amount":"99.00"}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"max a number", `{"amount":"100.00","max_amount":200}`, []reqOpt{as(cy)}, 422, auction.CodeInvalidAmount},
			{"amount missing", `{"max_amount":"100.00"}`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"amount null", `{"amount":null}`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"amount a boolean", `{"amount":true}`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"malformed JSON", `{"amount":"100.00"`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"not an object", `"100.00"`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"trailing garbage", `{"amount":"100.00"}}`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"request id a number", `{"amount":"100.00","request_id":7}`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"request id too long", `{"amount":"100.00","request_id":"` + long + `"}`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			// PostgreSQL cannot store NUL; it must be refused before it reaches a commit.
			{"request id with NUL", `{"amount":"100.00","request_id":"ab\u0000cd"}`, []reqOpt{as(cy)}, 400, auction.CodeInvalidRequest},
			{"anonymous", `{"amount":"100.00"}`, nil, 401, auction.CodeUnauthenticated},
			{"bad bearer", `{"amount":"100.00"}`, []reqOpt{bearer(strings.Repeat("x", 43))}, 401, auction.CodeUnauthenticated},
			{"cookie without CSRF", `{"amount":"100.00"}`, []reqOpt{cookie(cy.Token)}, 403, auction.CodeForbidden},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do("POST", bidsPath, tt.body, tt.opts...).expectError(t, tt.status, tt.code)
			})
		}
		t.Run("refused bids change nothing", func(t *testing.T) {
			sameState(t, before, e.get(a.ID))
			if after := e.bidsOf(a.ID); len(after) != len(bidsBefore) {
				t.Errorf("%d bids, want %d", len(after), len(bidsBefore))
			}
		})
		t.Run("unknown auction", func(t *testing.T) {
			e.do("POST", "/api/v1/auctions/999999/bids", `{"amount":"100.00"}`, as(cy)).expectError(t, 404, auction.CodeNotFound)
			e.do("POST", "/api/v1/auctions/abc/bids", `{"amount":"100.00"}`, as(cy)).expectError(t, 404, auction.CodeNotFound)
		})
		t.Run("not yet open", func(t *testing.T) {
			later := e.createAuction(ann, map[string]any{
				"starts_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
				"ends_at":   time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339),
			})
			e.do("POST", "/api/v1/auctions/"+itoa(later.ID)+"/bids", `{"amount":"100.00"}`, as(cy)).expectError(t, 422, auction.CodeAuctionNotOpen)
		})
		t.Run("closed", func(t *testing.T) {
			root := e.admin()
			done := e.createAuction(ann, nil)
			e.do("POST", "/api/v1/auctions/"+itoa(done.ID)+"/close", "", as(root)).expect(t, 200)
			e.do("POST", "/api/v1/auctions/"+itoa(done.ID)+"/bids", `{"amount":"100.00"}`, as(cy)).expectError(t, 422, auction.CodeAuctionClosed)
		})
	})
}

func TestListBids(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		cy := e.signup("cyd")
		a := e.createAuction(ann, map[string]any{"starting_price": "1"})
		path := "/api/v1/auctions/" + itoa(a.ID) + "/bids"
		amounts := []string{"1", "2.5", "5", "10", "20"}
		for i, amount := range amounts {
			who := bob
			if i%2 == 1 {
				who = cy
			}
			e.do("POST", path, `{"amount":"`+amount+`"}`, as(who)).expect(t, 201)
		}

		t.Run("every bid, newest first", func(t *testing.T) {
			got := e.bidsOf(a.ID)
			if len(got) != len(amounts) {
				t.Fatalf("%d bids, want %d", len(got), len(amounts))
			}
			want := []string{"20.00", "10.00", "5.00", "2.50", "1.00"}
			for i, b := range got {
				if b.Amount != want[i] || b.ID <= 0 || b.Bidder.Name == "" || b.CreatedAt == "" {
					t.Errorf("bid %d: %+v, want amount %s", i, b, want[i])
				}
			}
			if got[0].Bidder.ID != bob.User.ID || got[1].Bidder.Name != "cyd" {
				t.Errorf("bidders %+v %+v", got[0].Bidder, got[1].Bidder)
			}
		})
		t.Run("paged", func(t *testing.T) {
			var out struct{ Bids []auction.BidView }
			e.do("GET", path+"?limit=2&offset=1", "").expect(t, 200).decode(t, &out)
			if len(out.Bids) != 2 || out.Bids[0].Amount != "10.00" || out.Bids[1].Amount != "5.00" {
				t.Errorf("page %+v", out.Bids)
			}
		})
		t.Run("no bids", func(t *testing.T) {
			quiet := e.createAuction(ann, nil)
			res := e.do("GET", "/api/v1/auctions/"+itoa(quiet.ID)+"/bids", "").expect(t, 200)
			if string(res.Body) != `{"bids":[]}` {
				t.Errorf("body %s", res.Body)
			}
		})
		for _, q := range []string{"?limit=x", "?offset=-1", "?limit=1e2"} {
			t.Run(q, func(t *testing.T) {
				e.do("GET", path+q, "").expectError(t, 400, auction.CodeInvalidRequest)
			})
		}
		for _, id := range []string{"999999", "abc", "0"} {
			t.Run("auction "+id, func(t *testing.T) {
				e.do("GET", "/api/v1/auctions/"+id+"/bids", "").expectError(t, 404, auction.CodeNotFound)
			})
		}
	})
}

func TestBuyNow(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		cy := e.signup("cyd")
		buy := func(id int64) string { return "/api/v1/auctions/" + itoa(id) + "/buy" }

		t.Run("bought", func(t *testing.T) {
			a := e.createAuction(ann, map[string]any{"buy_now_price": "50"})
			var v auction.View
			e.do("POST", buy(a.ID), "", as(bob)).expect(t, 200).decode(t, &v)
			if v.Status != auction.StatusClosed || v.ClosedReason == nil || *v.ClosedReason != "bought" ||
				v.Winner == nil || v.Winner.ID != bob.User.ID || v.CurrentPrice == nil || *v.CurrentPrice != "50.00" || v.BidCount != 0 {
				t.Errorf("view %+v", v)
			}
			e.do("POST", buy(a.ID), "", as(cy)).expectError(t, 422, auction.CodeAuctionClosed)
			sameState(t, v, e.get(a.ID))
		})
		t.Run("refused", func(t *testing.T) {
			plain := e.createAuction(ann, nil)
			withBid := e.createAuction(ann, map[string]any{"buy_now_price": "50"})
			e.do("POST", "/api/v1/auctions/"+itoa(withBid.ID)+"/bids", `{"amount":"10"}`, as(cy)).expect(t, 201)
			offer := e.createAuction(ann, map[string]any{"buy_now_price": "50"})
			plainBefore, withBidBefore, offerBefore := e.get(plain.ID), e.get(withBid.ID), e.get(offer.ID)

			e.do("POST", buy(plain.ID), "", as(bob)).expectError(t, 422, auction.CodeBuyNowUnavailable)
			e.do("POST", buy(withBid.ID), "", as(bob)).expectError(t, 422, auction.CodeBuyNowUnavailable)
			e.do("POST", buy(offer.ID), "", as(ann)).expectError(t, 422, auction.CodeOwnAuction)
			e.do("POST", buy(offer.ID), "").expectError(t, 401, auction.CodeUnauthenticated)
			e.do("POST", buy(offer.ID), "", cookie(bob.Token)).expectError(t, 403, auction.CodeForbidden)
			e.do("POST", buy(999999), "", as(bob)).expectError(t, 404, auction.CodeNotFound)

			sameState(t, plainBefore, e.get(plain.ID))
			sameState(t, withBidBefore, e.get(withBid.ID))
			sameState(t, offerBefore, e.get(offer.ID))
		})
		t.Run("with cookie and CSRF", func(t *testing.T) {
			a := e.createAuction(ann, map[string]any{"buy_now_price": "50"})
			e.do("POST", buy(a.ID), "", cookie(bob.Token), csrf(bob.CSRFToken)).expect(t, 200)
		})
	})
}
