package handlers

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"auctionhouse/auction"
)

func TestPageHome(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		bidder := e.signup("bidder")
		a := e.createAuction(seller, map[string]any{"title": "Old map", "starting_price": "1250"})
		b := e.createAuction(seller, map[string]any{"title": "Tea set", "ends_at": time.Now().Add(2*time.Hour + 5*time.Minute + 30*time.Second).UTC().Format(time.RFC3339)})
		e.createAuction(seller, map[string]any{"title": "Not yet", "starts_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "ends_at": time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)})
		e.do("POST", "/api/v1/auctions/"+itoa(b.ID)+"/bids", `{"amount":"12.50"}`, as(bidder)).expect(t, 201)

		for _, br := range []*browser{e.browser(), func() *browser { x := e.browser(); x.signupForm("viewer"); return x }()} {
			body := br.get("/").expectPage(t, 200)
			if !strings.Contains(body, "Old map") || !strings.Contains(body, "Tea set") {
				t.Errorf("open auctions missing from the list")
			}
			if strings.Contains(body, "Not yet") {
				t.Errorf("a scheduled auction is listed as open")
			}
			if !strings.Contains(body, `href="/auctions/`+itoa(a.ID)+`"`) || !strings.Contains(body, "$1,250.00") || !strings.Contains(body, "Starting at") {
				t.Errorf("the card of an auction without bids shows its starting price")
			}
			if !strings.Contains(body, "$12.50") || !strings.Contains(body, "1 bid<") {
				t.Errorf("the card of an auction with a bid shows its price and count")
			}
			if !regexp.MustCompile(`data-ends-at="`+regexp.QuoteMeta(b.EndsAt)+`">2h 5m</time>`).MatchString(body) &&
				!regexp.MustCompile(`data-ends-at="`+regexp.QuoteMeta(b.EndsAt)+`">2h 6m</time>`).MatchString(body) {
				t.Errorf("time left not rendered server-side:\n%s", body)
			}
		}
		// A page number far past the end, as large as an int64 holds: an empty page, not an
		// offset that overflowed (page × page size).
		body := e.browser().get("/?page=9223372036854775807").expectPage(t, 200)
		if strings.Contains(body, "Old map") {
			t.Errorf("a page far past the end lists auctions")
		}
	})
}

func TestPageAuctionDOMContract(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		v := e.createAuction(seller, map[string]any{"reserve_price": "30.00", "buy_now_price": "80.00"})
		id := itoa(v.ID)

		bidder := e.browser()
		bidder.signupForm("bidder")
		bidderID := e.login("bidder", testPassword).User.ID
		body := bidder.get("/auctions/"+id).expectPage(t, 200)

		main := element(t, body, "auction-page")
		if !strings.HasPrefix(main, "<main ") {
			t.Errorf("#auction-page is not the <main>: %s", main)
		}
		for attr, want := range map[string]string{
			"data-auction-id": id,
			"data-user-id":    itoa(bidderID),
			"data-seller-id":  itoa(seller.User.ID),
			"data-ws-url":     "/ws/auctions/" + id,
			"data-sse-url":    "/auctions/" + id + "/events",
			"data-bid-url":    "/api/v1/auctions/" + id + "/bids",
			"data-bids-url":   "/api/v1/auctions/" + id + "/bids",
		} {
			if !strings.Contains(main, " "+attr+`="`+want+`"`) {
				t.Errorf("%s should be %q in %s", attr, want, main)
			}
		}
		for _, id := range []string{"auction-title", "auction-status", "current-price", "high-bidder", "bid-count", "watchers",
			"min-next-bid", "reserve-state", "countdown", "winner", "bid-state", "connection", "price-chart", "bid-history",
			"bid-form", "bid-amount", "bid-max", "bid-submit", "bid-message", "buy-form", "initial-state"} {
			element(t, body, id)
		}
		if got := element(t, body, "auction-status"); !strings.Contains(got, `data-status="open"`) {
			t.Errorf("#auction-status: %s", got)
		}
		if got := textOf(t, body, "current-price"); got != "$10.00" || !strings.Contains(textOf(t, body, "price-label"), "Starting at") {
			t.Errorf("#current-price %q without bids should be the starting price, labelled", got)
		}
		if got := element(t, body, "reserve-state"); strings.Contains(got, "hidden") || textOf(t, body, "reserve-state") != "Reserve not met" {
			t.Errorf("#reserve-state: %s", got)
		}
		if got := element(t, body, "countdown"); !strings.HasPrefix(got, "<time ") || !strings.Contains(got, `datetime="`+v.EndsAt+`"`) {
			t.Errorf("#countdown: %s", got)
		}
		if got := textOf(t, body, "countdown"); got != "1h 0m" && got != "59m 59s" && got != "59m 58s" {
			t.Errorf("#countdown text %q", got)
		}
		if got := element(t, body, "winner"); !strings.Contains(got, "hidden") {
			t.Errorf("#winner shown while open: %s", got)
		}
		if got := element(t, body, "bid-state"); !strings.Contains(got, "hidden") || textOf(t, body, "bid-state") != "" {
			t.Errorf("#bid-state: %s", got)
		}
		if got := element(t, body, "connection"); !strings.Contains(got, `data-state="offline"`) {
			t.Errorf("#connection: %s", got)
		}
		if got := element(t, body, "bid-history"); !strings.HasPrefix(got, "<ol ") {
			t.Errorf("#bid-history is not an <ol>: %s", got)
		}
		if !strings.Contains(body, `<div id="price-chart" class="price-chart" role="img" aria-label="Chart of the price over time"></div>`) {
			t.Errorf("#price-chart is not an empty container")
		}
		form := element(t, body, "bid-form")
		if !strings.HasPrefix(form, "<form ") || !strings.Contains(form, `method="post"`) || !strings.Contains(form, `action="/auctions/`+id+`/bid"`) {
			t.Errorf("#bid-form: %s", form)
		}
		amount := element(t, body, "bid-amount")
		if !strings.Contains(amount, `name="amount"`) || !strings.Contains(amount, `inputmode="decimal"`) || !strings.Contains(amount, `placeholder="10.00"`) {
			t.Errorf("#bid-amount: %s", amount)
		}
		if m := element(t, body, "bid-max"); !strings.Contains(m, `name="max_amount"`) || !strings.Contains(m, `inputmode="decimal"`) {
			t.Errorf("#bid-max: %s", m)
		}
		if !strings.HasPrefix(element(t, body, "bid-submit"), "<button ") || !strings.Contains(element(t, body, "bid-message"), `role="status"`) {
			t.Errorf("#bid-submit or #bid-message")
		}
		tok := csrfOf(t, bidder.get("/auctions/"+id))
		formHTML := body[strings.Index(body, form):]
		formHTML = formHTML[:strings.Index(formHTML, "</form>")]
		if !strings.Contains(formHTML, `name="_csrf" value="`+tok+`"`) {
			t.Errorf("the bid form does not carry the session's CSRF token")
		}
		if buy := element(t, body, "buy-form"); !strings.Contains(buy, `action="/auctions/`+id+`/buy"`) || !strings.Contains(buy, `method="post"`) {
			t.Errorf("#buy-form: %s", buy)
		}
		// auction.js uses format.js, so format.js must come first.
		format := strings.Index(body, `<script src="/static/js/format.js" defer></script>`)
		live := strings.Index(body, `<script src="/static/js/auction.js" defer></script>`)
		if format < 0 || live < 0 || format > live {
			t.Errorf("format.js (at %d) must be loaded before auction.js (at %d)", format, live)
		}
		state := initialState(t, body)
		if state.ID != v.ID || state.Title != v.Title || state.BuyNowPrice == nil || *state.BuyNowPrice != "80.00" || state.Seq != v.Seq {
			t.Errorf("initial-state: %+v", state)
		}
		if showsAmount(body, "30.00") {
			t.Errorf("the page reveals the reserve")
		}

		// The seller sees no forms; an anonymous visitor a login link instead.
		sellerBrowser := e.browser()
		sellerBrowser.loginForm("seller", testPassword)
		body = sellerBrowser.get("/auctions/"+id).expectPage(t, 200)
		if hasElement(body, "bid-form") || hasElement(body, "buy-form") {
			t.Errorf("the seller is offered to bid")
		}
		if !strings.Contains(element(t, body, "auction-page"), `data-user-id="`+itoa(seller.User.ID)+`"`) {
			t.Errorf("data-user-id of the seller")
		}
		body = e.browser().get("/auctions/"+id).expectPage(t, 200)
		if hasElement(body, "bid-form") || hasElement(body, "buy-form") {
			t.Errorf("an anonymous visitor is offered to bid")
		}
		if !strings.Contains(element(t, body, "auction-page"), `data-user-id=""`) {
			t.Errorf("data-user-id should be empty for anonymous visitors")
		}
		if !strings.Contains(body, `href="/login?next=/auctions/`+id+`"`) || !strings.Contains(body, "Log in to bid") {
			t.Errorf("no 'Log in to bid' link with next")
		}

		// After a bid: the current price, leader and history; buy now is gone.
		e.do("POST", "/api/v1/auctions/"+id+"/bids", `{"amount":"12.00","max_amount":"40.00"}`, as(e.login("bidder", testPassword))).expect(t, 201)
		body = e.browser().get("/auctions/"+id).expectPage(t, 200)
		if textOf(t, body, "current-price") != "$30.00" || textOf(t, body, "high-bidder") != "bidder" || textOf(t, body, "bid-count") != "1" ||
			textOf(t, body, "reserve-state") != "Reserve met" || textOf(t, body, "min-next-bid") != "$31.00" {
			t.Errorf("state after a bid:\n%s", body)
		}
		if !strings.Contains(body, `<span class="bid-who">bidder</span> <span class="bid-amount">$12.00</span>`) {
			t.Errorf("the bid is not in the history")
		}
		body = bidder.get("/auctions/"+id).expectPage(t, 200)
		if hasElement(body, "buy-form") {
			t.Errorf("buy now offered after a bid")
		}

		// Closed: the winner is shown, the forms are gone.
		e.do("POST", "/api/v1/auctions/"+id+"/close", "", as(e.admin())).expect(t, 200)
		body = bidder.get("/auctions/"+id).expectPage(t, 200)
		if got := element(t, body, "winner"); strings.Contains(got, "hidden") || textOf(t, body, "winner") != "Won by bidder" {
			t.Errorf("#winner after closing: %s %q", got, textOf(t, body, "winner"))
		}
		if hasElement(body, "bid-form") || !strings.Contains(element(t, body, "auction-status"), `data-status="closed"`) {
			t.Errorf("a closed auction still takes bids")
		}

		// Without a reserve, #reserve-state is hidden; a cancelled auction says so.
		plain := e.createAuction(seller, nil)
		e.do("POST", "/api/v1/auctions/"+itoa(plain.ID)+"/cancel", "", as(e.admin())).expect(t, 200)
		body = e.browser().get("/auctions/"+itoa(plain.ID)).expectPage(t, 200)
		if !strings.Contains(element(t, body, "reserve-state"), "hidden") || textOf(t, body, "winner") != "Cancelled" {
			t.Errorf("reserve-state or winner of a cancelled auction without reserve")
		}
		noWinner := e.createAuction(seller, map[string]any{"reserve_price": "100.00"})
		e.do("POST", "/api/v1/auctions/"+itoa(noWinner.ID)+"/close", "", as(e.admin())).expect(t, 200)
		body = e.browser().get("/auctions/"+itoa(noWinner.ID)).expectPage(t, 200)
		if textOf(t, body, "winner") != "Ended without a winner" {
			t.Errorf("#winner without a winner: %q", textOf(t, body, "winner"))
		}
	})
}

func TestPageEscapesUserText(t *testing.T) {
	const evil = `</script><script>alert("x")</script><img src=x onerror=alert(1)> & "q" '`
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("sel.l-er_1")
		v := e.createAuction(seller, map[string]any{"title": evil, "description": evil + "\nline two"})
		bidder := e.browser()
		bidder.signupForm("bidder")
		e.do("POST", "/api/v1/auctions/"+itoa(v.ID)+"/bids", `{"amount":"10.00"}`, as(e.login("bidder", testPassword))).expect(t, 201)
		sellerBrowser := e.browser()
		sellerBrowser.loginForm("sel.l-er_1", testPassword)

		pages := map[string]string{
			"list":             e.browser().get("/").expectPage(t, 200),
			"auction":          bidder.get("/auctions/"+itoa(v.ID)).expectPage(t, 200),
			"account (bidder)": bidder.get("/account").expectPage(t, 200),
			"account (seller)": sellerBrowser.get("/account").expectPage(t, 200),
			"admin":            e.adminBrowser().get("/admin").expectPage(t, 200),
		}
		for name, body := range pages {
			if strings.Contains(body, `<script>alert`) || strings.Contains(body, "<img src=x") {
				t.Errorf("%s: user text is not escaped", name)
			}
			if !strings.Contains(body, "&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
				t.Errorf("%s: the escaped title is missing", name)
			}
		}
		body := pages["auction"]
		if got := initialState(t, body); got.Title != evil || got.Description != evil+"\nline two" {
			t.Errorf("initial-state lost the text: %q", got.Title)
		}
		// Exactly one </script> follows the JSON: the one that closes it.
		json := body[strings.Index(body, `<script id="initial-state"`):]
		if strings.Count(json, "</script>") != 1 {
			t.Errorf("the title broke out of the JSON:\n%s", json)
		}
		if textOf(t, body, "auction-title") != evil {
			t.Errorf("#auction-title does not show the text as typed")
		}
	})
}

func TestPageNoJSBid(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		v := e.createAuction(seller, nil)
		id := itoa(v.ID)
		path := "/auctions/" + id + "/bid"

		anon := e.browser()
		tok := anon.token("/auctions/" + id)
		anon.post(path, map[string][]string{"_csrf": {tok}, "amount": {"10"}}).expectRedirect(t, "/login?next=%2Fauctions%2F"+id)

		b := e.browser()
		b.signupForm("bidder")
		page := b.get("/auctions/" + id)
		tok = csrfOf(t, page)
		rid := regexp.MustCompile(`name="request_id" value="([^"]+)"`).FindStringSubmatch(string(page.Body))
		if rid == nil {
			t.Fatal("the bid form has no request_id")
		}

		// Without the token: 403, no bid.
		b.post(path, map[string][]string{"amount": {"10"}}).expectPage(t, 403)
		b.post(path, map[string][]string{"_csrf": {"wrong"}, "amount": {"10"}}).expectPage(t, 403)
		if n := len(e.bidsOf(v.ID)); n != 0 {
			t.Fatalf("%d bids placed without a CSRF token", n)
		}

		for _, tc := range []struct {
			form map[string][]string
			msg  string
		}{
			{map[string][]string{"amount": {" 10 "}, "max_amount": {"15"}, "request_id": {rid[1]}}, "bid_leading"},
			// The same request again (a double click) places nothing new.
			{map[string][]string{"amount": {"10"}, "max_amount": {"15"}, "request_id": {rid[1]}}, "bid_leading"},
			{map[string][]string{"amount": {"abc"}}, "invalid_amount"},
			{map[string][]string{"amount": {"12"}, "max_amount": {"11"}}, "invalid_amount"},
			{map[string][]string{"amount": {"1e3"}}, "invalid_amount"},
			{map[string][]string{"amount": {"10"}}, "bid_too_low"},
		} {
			tc.form["_csrf"] = []string{tok}
			b.post(path, tc.form).expectRedirect(t, "/auctions/"+id+"?msg="+tc.msg)
		}
		if n := len(e.bidsOf(v.ID)); n != 1 {
			t.Fatalf("%d bids stored, want 1", n)
		}

		// The outcome is shown in words; unknown codes show nothing.
		body := b.get("/auctions/"+id+"?msg=bid_leading").expectPage(t, 200)
		if !strings.Contains(body, "You are the highest bidder.") {
			t.Errorf("no message for bid_leading")
		}
		body = b.get("/auctions/"+id+"?msg=<b>hi</b>").expectPage(t, 200)
		if strings.Contains(body, "class=\"flash") {
			t.Errorf("an unknown message code shows something")
		}

		// Another bidder is outbid by the proxy and told so.
		other := e.browser()
		other.signupForm("other")
		tok2 := other.token("/auctions/" + id)
		other.post(path, map[string][]string{"_csrf": {tok2}, "amount": {"12"}}).expectRedirect(t, "/auctions/"+id+"?msg=bid_not_leading")
		body = other.get("/auctions/"+id+"?msg=bid_not_leading").expectPage(t, 200)
		if !strings.Contains(body, "you have been outbid") || textOf(t, body, "current-price") != "$12.50" {
			t.Errorf("outbid message or price:\n%s", body)
		}

		// The seller is refused; a missing auction is a 404 page.
		sb := e.browser()
		sb.loginForm("seller", testPassword)
		stok := sb.token("/")
		sb.post(path, map[string][]string{"_csrf": {stok}, "amount": {"50"}}).expectRedirect(t, "/auctions/"+id+"?msg=own_auction")
		sb.post("/auctions/99999/bid", map[string][]string{"_csrf": {stok}, "amount": {"50"}}).expectPage(t, 404)
	})
}

func TestPageNoJSBuy(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		v := e.createAuction(seller, map[string]any{"buy_now_price": "99.00"})
		id := itoa(v.ID)
		path := "/auctions/" + id + "/buy"

		b := e.browser()
		b.signupForm("buyer")
		tok := b.token("/auctions/" + id)
		b.post(path, map[string][]string{}).expectPage(t, 403)
		if got := e.get(v.ID); got.Status != auction.StatusOpen {
			t.Fatalf("bought without a CSRF token: %+v", got)
		}
		b.post(path, map[string][]string{"_csrf": {tok}}).expectRedirect(t, "/auctions/"+id+"?msg=bought")
		got := e.get(v.ID)
		if got.Status != auction.StatusClosed || got.Winner == nil || got.Winner.Name != "buyer" || *got.ClosedReason != "bought" {
			t.Errorf("after buying: %+v", got)
		}
		body := b.get("/auctions/"+id+"?msg=bought").expectPage(t, 200)
		if !strings.Contains(body, "You bought it!") || textOf(t, body, "winner") != "Won by buyer" {
			t.Errorf("the page does not say so")
		}
		b.post(path, map[string][]string{"_csrf": {tok}}).expectRedirect(t, "/auctions/"+id+"?msg=auction_closed")

		// No buy-now price: the engine refuses, the page says so.
		plain := e.createAuction(seller, nil)
		b.post("/auctions/"+itoa(plain.ID)+"/buy", map[string][]string{"_csrf": {tok}}).expectRedirect(t, "/auctions/"+itoa(plain.ID)+"?msg=buy_now_unavailable")
	})
}

func TestPageErrorsAreHTML(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		b := e.browser()
		b.signupForm("someone")
		for _, path := range []string{"/nope", "/auctions/99999", "/auctions/abc", "/auctions/0", "/static/nope.css", "/photos/nope"} {
			body := b.get(path).expectPage(t, 404)
			if !strings.Contains(body, "Page not found") {
				t.Errorf("GET %s: not the HTML 404 page", path)
			}
			// Photos are served without looking up the session; every other page knows who asks.
			if !strings.HasPrefix(path, "/photos/") && !strings.Contains(body, `href="/account"`) {
				t.Errorf("GET %s: the 404 page has not the signed-in header", path)
			}
		}
		if body := b.send(newRequest("DELETE", "/")).expectPage(t, 405); !strings.Contains(body, "Not allowed") {
			t.Errorf("DELETE / is not the HTML 405 page")
		}
		// The API keeps its JSON errors.
		e.do("GET", "/api/v1/nope", "").expectError(t, 404, auction.CodeNotFound)
		e.do("GET", "/api/v1/auctions/99999", "").expectError(t, 404, auction.CodeNotFound)
		e.do("DELETE", "/api/v1/auctions", "").expectError(t, 405, auction.CodeInvalidRequest)
		e.do("GET", "/healthz/nope", "").expect(t, 404)
	})
}

func TestPageStaticFiles(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		r := e.do("GET", "/static/css/app.css", "").expect(t, 200)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age="+strconv.Itoa(int(staticMaxAge.Seconds()))) {
			t.Errorf("Cache-Control %q", cc)
		}
		etag := r.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		e.do("GET", "/static/css/app.css", "", header("If-None-Match", etag)).expect(t, 304)
		e.do("GET", "/static/js/form.js", "").expect(t, 200)
		e.do("GET", "/static/img/placeholder.svg", "").expect(t, 200)
		e.do("GET", "/static/../go.mod", "").expect(t, 404)
	})
}

// TestPageAuctionLifecycleForms: a scheduled auction already carries the bid form (the live
// script enables it at the start, so nobody must reload) but no buy-now form; a finished one
// carries neither and shows no next bid.
func TestPageAuctionLifecycleForms(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		starts := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		ends := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
		scheduled := e.createAuction(seller, map[string]any{"starts_at": starts, "ends_at": ends, "buy_now_price": "50.00"})
		bidder := e.browser()
		bidder.signupForm("bidder")

		body := bidder.get("/auctions/"+itoa(scheduled.ID)).expectPage(t, 200)
		if !hasElement(body, "bid-form") || hasElement(body, "buy-form") {
			t.Fatalf("scheduled auction: bid form %v (want true), buy form %v (want false)", hasElement(body, "bid-form"), hasElement(body, "buy-form"))
		}

		closed := e.createAuction(seller, nil)
		e.do(http.MethodPost, "/api/v1/auctions/"+itoa(closed.ID)+"/close", "", as(e.admin())).expect(t, http.StatusOK)
		body = bidder.get("/auctions/"+itoa(closed.ID)).expectPage(t, 200)
		if hasElement(body, "bid-form") || hasElement(body, "buy-form") {
			t.Fatal("a closed auction must not offer a bid or buy form")
		}
		if got := textOf(t, body, "min-next-bid"); got != "—" {
			t.Fatalf("closed auction shows a next bid of %q", got)
		}
	})
}
