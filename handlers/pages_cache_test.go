package handlers

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"auctionhouse/auction"
)

func TestSplicedPage(t *testing.T) {
	c := newAnonPages()
	m := c.marks
	values := pageHoles{CSRF: "tok-EN_1", TimeLeft: "2h 5m", ServerTime: "2026-11-25T10:00:00.250Z"}
	for _, tt := range []struct {
		name, html, want string
	}{
		{"no holes", "<p>plain</p>", "<p>plain</p>"},
		{"every hole, some twice", "a" + m.CSRF + "b" + m.TimeLeft + "c" + m.CSRF + "d" + m.ServerTime + "e",
			"atok-EN_1b2h 5mctok-EN_1d2026-11-25T10:00:00.250Ze"},
		{"holes at both ends and side by side", m.TimeLeft + m.CSRF + "x" + m.ServerTime, "2h 5mtok-EN_1x2026-11-25T10:00:00.250Z"},
		{"empty page", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := c.splice(1, []byte(tt.html))
			if got := string(p.fill(values)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			// The cut page is not changed by filling it.
			if again := string(p.fill(values)); again != tt.want {
				t.Fatalf("second fill: %q", again)
			}
		})
	}
}

func TestHoleSafe(t *testing.T) {
	for v, want := range map[string]bool{
		"": true, "AbC-_09": true, "1d 4h": true, "Ended": true, "2026-11-25T10:00:00.250Z": true,
		`a"b`: false, "a<b": false, "a&b": false, "a'b": false, "a+b": false, "a/b": false, "é": false,
	} {
		if got := holeSafe(v); got != want {
			t.Errorf("holeSafe(%q) = %v, want %v", v, got, want)
		}
	}
}

// The cached page with its holes filled is the page the template renders with those values,
// byte for byte, with user text that escaping changes.
func TestAnonPageMatchesFullRender(t *testing.T) {
	views, err := parsePageTemplates(os.DirFS("../templates"), pageFuncs())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	price := "12.50"
	view := auction.View{
		ID: 7, Title: `Ann's <b>"lamp"</b> & co`, Description: "Line one\n<script>x</script>",
		Seller: auction.UserView{ID: 3, Name: "ann"}, Status: auction.StatusOpen, Currency: "USD",
		StartingPrice: "10.00", CurrentPrice: &price,
		MinNextBid: "13.00", BidCount: 1,
		StartsAt: auction.FormatTime(now.Add(-time.Hour)), EndsAt: auction.FormatTime(now.Add(2 * time.Hour)),
		Seq: 4, ServerTime: auction.FormatTime(now),
	}
	data := auctionData{View: view, Price: "12.50", PriceLabel: "Current bid", Anonymous: true,
		Bids: []auction.BidView{{ID: 1, Bidder: auction.UserView{ID: 5, Name: "bo<b>"}, Amount: price, CreatedAt: auction.FormatTime(now)}}}
	values := pageHoles{CSRF: "csrf-Token_1", TimeLeft: timeLeft(view.EndsAt, now), ServerTime: "2026-11-25T10:00:01.500Z"}
	render := func(data auctionData, csrf string) []byte {
		var buf bytes.Buffer
		p := page{Title: view.Title, Nav: "auctions", Data: data, CSRF: csrf, Now: now, ServerTime: auction.FormatTime(now)}
		if err := views.Render(&buf, "auction", p); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}

	full := data
	full.TimeLeft, full.View.ServerTime = values.TimeLeft, values.ServerTime
	want := render(full, values.CSRF)

	c := newAnonPages()
	marked := data
	marked.TimeLeft, marked.View.ServerTime = c.marks.TimeLeft, c.marks.ServerTime
	got := c.splice(view.Seq, render(marked, c.marks.CSRF)).fill(values)
	if !bytes.Equal(got, want) {
		t.Fatalf("the filled page differs from the full render:\n%s\n---\n%s", got, want)
	}
	for _, v := range values.list() {
		if !strings.Contains(string(want), v) {
			t.Fatalf("the page does not show %q:\n%s", v, want)
		}
	}
}

func TestPageAnonymousCache(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		a := e.createAuction(ann, nil)
		path := "/auctions/" + itoa(a.ID)

		// Two visitors, one page version: each page carries its own visitor's CSRF token.
		v1, v2 := e.browser(), e.browser()
		p1 := v1.get(path).expect(t, 200)
		p2 := v2.get(path).expect(t, 200)
		t1, t2 := csrfOf(t, p1), csrfOf(t, p2)
		if t1 == t2 || t1 != v1.cookies[anonCSRFCookie] || t2 != v2.cookies[anonCSRFCookie] {
			t.Fatalf("page tokens %q and %q, cookies %q and %q: each page must carry its visitor's own",
				t1, t2, v1.cookies[anonCSRFCookie], v2.cookies[anonCSRFCookie])
		}
		time.Sleep(5 * time.Millisecond)
		second := v1.get(path).expect(t, 200)
		if again := csrfOf(t, second); again != t1 {
			t.Fatalf("a second view shows token %q, want the visitor's %q", again, t1)
		}
		// The clock in the initial state is the server's at each view, not at the first.
		first, later := initialState(t, string(p1.Body)), initialState(t, string(second.Body))
		if first.Seq != later.Seq || !(later.ServerTime > first.ServerTime) {
			t.Fatalf("server_time %s then %s at seq %d and %d: want a later clock at the same seq",
				first.ServerTime, later.ServerTime, first.Seq, later.Seq)
		}

		// A bid changes the auction: the next anonymous view shows it.
		e.do("POST", "/api/v1/auctions/"+itoa(a.ID)+"/bids", `{"amount":"10.00"}`, as(bob)).expect(t, 201)
		body := string(v1.get(path).expect(t, 200).Body)
		if st := initialState(t, body); st.BidCount != 1 {
			t.Fatalf("the page after a bid shows bid_count %d, want 1", st.BidCount)
		}
		if got := textOf(t, body, "bid-count"); got != "1" {
			t.Fatalf("#bid-count %q after a bid, want 1", got)
		}

		// A signed-in visitor gets the page for them, not the anonymous one.
		b := e.browser()
		b.signupForm("cyd")
		mine := string(b.get(path).expect(t, 200).Body)
		if !hasElement(mine, "bid-form") || strings.Contains(mine, "Log in to bid") {
			t.Fatal("a signed-in bidder got the anonymous page")
		}
	})
}
