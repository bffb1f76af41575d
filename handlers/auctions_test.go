package handlers

import (
	"strings"
	"testing"
	"time"

	"auctionhouse/auction"
)

func TestCreateAuction(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")

		t.Run("created", func(t *testing.T) {
			ends := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Millisecond)
			var v auction.View
			e.do("POST", "/api/v1/auctions", jsonBody(map[string]any{
				"title":             "Telescope",
				"description":       "Brass",
				"starting_price":    "10",
				"reserve_price":     "20.5",
				"buy_now_price":     "99.99",
				"ends_at":           ends.Format(time.RFC3339Nano),
				"extension_seconds": 30,
			}), as(ann)).expect(t, 201).decode(t, &v)
			if v.ID <= 0 || v.Title != "Telescope" || v.Description != "Brass" || v.Seller.Name != "ann" || v.Status != auction.StatusOpen {
				t.Errorf("view %+v", v)
			}
			if v.StartingPrice != "10.00" || v.MinNextBid != "10.00" || v.BuyNowPrice == nil || *v.BuyNowPrice != "99.99" || v.CurrentPrice != nil {
				t.Errorf("amounts %+v", v)
			}
			if v.ReserveMet == nil || *v.ReserveMet || v.ExtensionSeconds != 30 || v.EndsAt != auction.FormatTime(ends) {
				t.Errorf("reserve, extension or end %+v", v)
			}
			if showsAmount(string(e.do("GET", "/api/v1/auctions/"+itoa(v.ID), "").Body), "20.50") {
				t.Errorf("the reserve is shown")
			}
		})
		t.Run("scheduled, with defaults, times with a fraction and an offset", func(t *testing.T) {
			start := time.Now().Add(time.Hour).Truncate(time.Second).Add(123456 * time.Microsecond)
			var v auction.View
			e.do("POST", "/api/v1/auctions", jsonBody(map[string]any{
				"title":          "Later",
				"starting_price": "1.5",
				"starts_at":      start.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000000-07:00"),
				"ends_at":        start.Add(time.Hour).UTC().Format(time.RFC3339),
			}), as(ann)).expect(t, 201).decode(t, &v)
			if v.Status != auction.StatusScheduled || v.ExtensionSeconds != auction.DefaultExtensionSeconds || v.StartingPrice != "1.50" || v.Description != "" {
				t.Errorf("view %+v", v)
			}
			if !strings.HasSuffix(v.StartsAt, ".123Z") {
				t.Errorf("starts_at %q, want milliseconds in UTC", v.StartsAt)
			}
		})

		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		tests := []struct {
			name   string
			body   string
			status int
			code   auction.Code
		}{
			{"malformed JSON", `{"title":`, 400, auction.CodeInvalidRequest},
			{"not an object", `["title"]`, 400, auction.CodeInvalidRequest},
			{"trailing garbage", auctionBody(nil) + "]", 400, auction.CodeInvalidRequest},
			{"title a number", auctionBody(map[string]any{"title": 5}), 400, auction.CodeInvalidRequest},
			{"extension not an integer", auctionBody(map[string]any{"extension_seconds": 1.5}), 400, auction.CodeInvalidRequest},
			{"extension a string", auctionBody(map[string]any{"extension_seconds": "30"}), 400, auction.CodeInvalidRequest},
			{"extension too long", auctionBody(map[string]any{"extension_seconds": 3601}), 400, auction.CodeInvalidRequest},
			{"ends_at a number", auctionBody(map[string]any{"ends_at": 1700000000}), 400, auction.CodeInvalidRequest},
			{"ends_at not RFC 3339", auctionBody(map[string]any{"ends_at": "tomorrow"}), 400, auction.CodeInvalidRequest},
			{"ends_at missing", auctionBody(map[string]any{"ends_at": nil}), 400, auction.CodeInvalidRequest},
			{"ends_at past", auctionBody(map[string]any{"ends_at": past}), 400, auction.CodeInvalidRequest},
			{"starts_at after ends_at", auctionBody(map[string]any{"starts_at": time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)}), 400, auction.CodeInvalidRequest},
			{"title missing", auctionBody(map[string]any{"title": nil}), 400, auction.CodeInvalidRequest},
			{"title too long", auctionBody(map[string]any{"title": strings.Repeat("t", 201)}), 400, auction.CodeInvalidRequest},
			{"starting_price missing", auctionBody(map[string]any{"starting_price": nil}), 400, auction.CodeInvalidRequest},
			{"starting_price an object", auctionBody(map[string]any{"starting_price": map[string]any{}}), 400, auction.CodeInvalidRequest},
			{"starting_price a float", auctionBody(map[string]any{"starting_price": 10.5}), 422, auction.CodeInvalidAmount},
			{"starting_price an integer", auctionBody(map[string]any{"starting_price": 10}), 422, auction.CodeInvalidAmount},
			{"starting_price three decimals", auctionBody(map[string]any{"starting_price": "12.345"}), 422, auction.CodeInvalidAmount},
			{"starting_price exponent", auctionBody(map[string]any{"starting_price": "1e3"}), 422, auction.CodeInvalidAmount},
			{"starting_price zero", auctionBody(map[string]any{"starting_price": "0"}), 422, auction.CodeInvalidAmount},
			{"starting_price negative", auctionBody(map[string]any{"starting_price": "-1"}), 422, auction.CodeInvalidAmount},
			{"reserve below start", auctionBody(map[string]any{"reserve_price": "9.99"}), 422, auction.CodeInvalidAmount},
			{"buy now below reserve", auctionBody(map[string]any{"reserve_price": "50", "buy_now_price": "40"}), 422, auction.CodeInvalidAmount},
			{"buy now a number", auctionBody(map[string]any{"buy_now_price": 40}), 422, auction.CodeInvalidAmount},
			// A malformed field makes the whole request malformed, whichever field is checked first.
			{"bad amount and bad time", auctionBody(map[string]any{"starting_price": "1.234", "ends_at": "soon"}), 400, auction.CodeInvalidRequest},
			{"bad amount and missing end", auctionBody(map[string]any{"starting_price": 3, "ends_at": nil}), 400, auction.CodeInvalidRequest},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e.do("POST", "/api/v1/auctions", tt.body, as(ann)).expectError(t, tt.status, tt.code)
			})
		}
		t.Run("anonymous", func(t *testing.T) {
			e.do("POST", "/api/v1/auctions", auctionBody(nil)).expectError(t, 401, auction.CodeUnauthenticated)
		})
		t.Run("refused requests create nothing", func(t *testing.T) {
			var list struct{ Auctions []auction.View }
			e.do("GET", "/api/v1/auctions", "").expect(t, 200).decode(t, &list)
			if len(list.Auctions) != 2 {
				t.Errorf("%d auctions, want the 2 created", len(list.Auctions))
			}
		})
	})
}

func TestListAuctions(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		root := e.admin()
		var ids []int64
		for range 3 {
			ids = append(ids, e.createAuction(ann, nil).ID)
		}
		e.createAuction(ann, map[string]any{"starts_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "ends_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
		e.do("POST", "/api/v1/auctions/"+itoa(ids[0])+"/cancel", "", as(root)).expect(t, 200)

		list := func(t *testing.T, query string) []auction.View {
			t.Helper()
			var out struct {
				Auctions []auction.View `json:"auctions"`
			}
			e.do("GET", "/api/v1/auctions"+query, "").expect(t, 200).decode(t, &out)
			return out.Auctions
		}
		t.Run("all, newest first", func(t *testing.T) {
			got := list(t, "")
			if len(got) != 4 || got[0].Status != auction.StatusScheduled || got[3].ID != ids[0] {
				t.Errorf("got %d auctions: %+v", len(got), got)
			}
		})
		for _, tt := range []struct {
			query string
			want  int
		}{
			{"?status=open", 2}, {"?status=scheduled", 1}, {"?status=cancelled", 1}, {"?status=closed", 0},
			{"?status=", 4}, {"?limit=2", 2}, {"?limit=2&offset=3", 1}, {"?offset=10", 0}, {"?limit=100000", 4},
			// Larger is clamped, however large; an offset that far is past the end.
			{"?limit=99999999999999999999", 4}, {"?offset=99999999999999999999", 0},
		} {
			t.Run(tt.query, func(t *testing.T) {
				if got := list(t, tt.query); len(got) != tt.want {
					t.Errorf("%d auctions, want %d", len(got), tt.want)
				}
			})
		}
		t.Run("open only", func(t *testing.T) {
			for _, v := range list(t, "?status=open") {
				if v.Status != auction.StatusOpen {
					t.Errorf("status %s", v.Status)
				}
			}
		})
		for _, q := range []string{"?status=live", "?status=OPEN", "?limit=ten", "?limit=1.5", "?limit=-1", "?offset=x", "?offset=-5", "?limit=+5", "?limit=0x10"} {
			t.Run(q, func(t *testing.T) {
				e.do("GET", "/api/v1/auctions"+q, "").expectError(t, 400, auction.CodeInvalidRequest)
			})
		}
	})
}

func TestGetAuction(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		created := e.createAuction(ann, nil)
		t.Run("found", func(t *testing.T) {
			got := e.get(created.ID)
			sameState(t, created, got)
			if _, err := time.Parse(time.RFC3339, got.ServerTime); err != nil || !strings.HasSuffix(got.ServerTime, "Z") {
				t.Errorf("server_time %q", got.ServerTime)
			}
		})
		for _, id := range []string{"999999", "abc", "0", "-1", "+1", "1.0", "99999999999999999999999"} {
			t.Run(id, func(t *testing.T) {
				e.do("GET", "/api/v1/auctions/"+id, "").expectError(t, 404, auction.CodeNotFound)
			})
		}
	})
}

func TestAdminActions(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		root := e.admin()

		for _, action := range []string{"close", "cancel"} {
			t.Run(action+" refused", func(t *testing.T) {
				a := e.createAuction(ann, nil)
				path := "/api/v1/auctions/" + itoa(a.ID) + "/" + action
				e.do("POST", path, "").expectError(t, 401, auction.CodeUnauthenticated)
				e.do("POST", path, "", as(bob)).expectError(t, 403, auction.CodeForbidden)
				e.do("POST", path, "", as(ann)).expectError(t, 403, auction.CodeForbidden)
				e.do("POST", path, "", cookie(root.Token)).expectError(t, 403, auction.CodeForbidden)
				e.do("POST", "/api/v1/auctions/999999/"+action, "", as(root)).expectError(t, 404, auction.CodeNotFound)
				e.do("POST", "/api/v1/auctions/x/"+action, "", as(root)).expectError(t, 404, auction.CodeNotFound)
				sameState(t, a, e.get(a.ID))
			})
		}
		t.Run("close", func(t *testing.T) {
			a := e.createAuction(ann, nil)
			e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/bids", `{"amount":"10.00"}`, as(bob)).expect(t, 201)
			var v auction.View
			e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/close", "", as(root)).expect(t, 200).decode(t, &v)
			if v.Status != auction.StatusClosed || v.ClosedReason == nil || *v.ClosedReason != "admin" || v.Winner == nil || v.Winner.ID != bob.User.ID {
				t.Errorf("closed view %+v", v)
			}
			e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/close", "", as(root)).expectError(t, 409, auction.CodeConflict)
			e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/cancel", "", as(root)).expectError(t, 409, auction.CodeConflict)
			sameState(t, v, e.get(a.ID))
		})
		t.Run("cancel with cookie and CSRF", func(t *testing.T) {
			a := e.createAuction(ann, nil)
			var v auction.View
			e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/cancel", "", cookie(root.Token), csrf(root.CSRFToken)).expect(t, 200).decode(t, &v)
			if v.Status != auction.StatusCancelled || v.ClosedReason == nil || *v.ClosedReason != "cancelled" || v.Winner != nil {
				t.Errorf("cancelled view %+v", v)
			}
			e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/cancel", "", as(root)).expectError(t, 409, auction.CodeConflict)
			e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/close", "", as(root)).expectError(t, 409, auction.CodeConflict)
		})
	})
}
