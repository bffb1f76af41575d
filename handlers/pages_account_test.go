package handlers

import (
	"strings"
	"testing"
)

// section returns the account page's section whose heading has this id.
func section(t *testing.T, body, headingID string) string {
	t.Helper()
	i := strings.Index(body, `aria-labelledby="`+headingID+`"`)
	if i < 0 {
		t.Fatalf("no section %s", headingID)
	}
	rest := body[i:]
	return rest[:strings.Index(rest, "</section>")]
}

func TestPageAccount(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		anon := e.browser()
		anon.get("/account").expectRedirect(t, "/login?next=%2Faccount")

		seller := e.signup("seller")
		admin := e.admin()
		annBrowser := e.browser()
		annBrowser.signupForm("ann")
		ann := e.login("ann", testPassword)
		bob := e.signup("bob")
		bid := func(who session, id int64, amount string) {
			t.Helper()
			e.do("POST", "/api/v1/auctions/"+itoa(id)+"/bids", `{"amount":"`+amount+`"}`, as(who)).expect(t, 201)
		}
		create := func(title string, mod map[string]any) int64 {
			t.Helper()
			if mod == nil {
				mod = map[string]any{}
			}
			mod["title"] = title
			return e.createAuction(seller, mod).ID
		}

		leading := create("Leading lamp", nil)
		bid(ann, leading, "10.00")
		outbid := create("Outbid owl", nil)
		bid(ann, outbid, "10.00")
		bid(bob, outbid, "20.00")
		won := create("Won wagon", nil)
		bid(ann, won, "10.00")
		e.do("POST", "/api/v1/auctions/"+itoa(won)+"/close", "", as(admin)).expect(t, 200)
		lost := create("Lost lute", nil)
		bid(ann, lost, "10.00")
		bid(bob, lost, "20.00")
		e.do("POST", "/api/v1/auctions/"+itoa(lost)+"/close", "", as(admin)).expect(t, 200)
		bought := create("Bought bike", map[string]any{"buy_now_price": "50.00"})
		e.do("POST", "/api/v1/auctions/"+itoa(bought)+"/buy", "", as(ann)).expect(t, 200)
		cancelled := create("Cancelled clock", nil)
		bid(ann, cancelled, "10.00")
		e.do("POST", "/api/v1/auctions/"+itoa(cancelled)+"/cancel", "", as(admin)).expect(t, 200)
		create("Untouched urn", nil)
		mine := e.createAuction(ann, map[string]any{"title": "Ann's armchair"}).ID

		body := annBrowser.get("/account").expectPage(t, 200)
		check := func(name, sec string, want []string, not []string) {
			t.Helper()
			for _, w := range want {
				if !strings.Contains(sec, w) {
					t.Errorf("%s: missing %q in\n%s", name, w, sec)
				}
			}
			for _, n := range not {
				if strings.Contains(sec, n) {
					t.Errorf("%s: should not contain %q", name, n)
				}
			}
		}
		all := []string{"Leading lamp", "Outbid owl", "Won wagon", "Lost lute", "Bought bike", "Cancelled clock", "Untouched urn", "Ann&#39;s armchair"}
		except := func(keep ...string) []string {
			var out []string
		next:
			for _, a := range all {
				for _, k := range keep {
					if a == k {
						continue next
					}
				}
				out = append(out, a)
			}
			return out
		}

		bidding := section(t, body, "bidding-h")
		check("bidding", bidding, []string{"Leading lamp", "Outbid owl", `href="/auctions/` + itoa(leading) + `"`}, except("Leading lamp", "Outbid owl"))
		leadRow := bidding[strings.Index(bidding, "Leading lamp"):]
		leadRow = leadRow[:strings.Index(leadRow, "</tr>")]
		outRow := bidding[strings.Index(bidding, "Outbid owl"):]
		outRow = outRow[:strings.Index(outRow, "</tr>")]
		if !strings.Contains(leadRow, "Winning") || !strings.Contains(outRow, "Outbid") || strings.Contains(outRow, "Winning") {
			t.Errorf("whether ann leads is wrong:\n%s\n%s", leadRow, outRow)
		}
		check("won", section(t, body, "won-h"), []string{"Won wagon", "Bought bike", "$50.00"}, except("Won wagon", "Bought bike"))
		check("lost", section(t, body, "lost-h"), []string{"Lost lute", "to bob"}, except("Lost lute"))
		check("selling", section(t, body, "selling-h"), []string{"Ann&#39;s armchair", `href="/auctions/` + itoa(mine) + `"`}, except("Ann&#39;s armchair"))

		sellerBrowser := e.browser()
		sellerBrowser.loginForm("seller", testPassword)
		body = sellerBrowser.get("/account").expectPage(t, 200)
		check("seller's selling", section(t, body, "selling-h"), except("Ann&#39;s armchair"), []string{"Ann&#39;s armchair"})
		check("seller's bidding", section(t, body, "bidding-h"), []string{"not bidding"}, all)
	})
}
