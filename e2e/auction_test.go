package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const password = "correct-horse-1"

// auctionLife is how long after its creation the test auction ends by itself. Everything the
// test does before the end must fit in it, with room to spare under the race detector.
const auctionLife = 40 * time.Second

// TestLiveAuction is the whole story in three browsers: a seller lists an item with a photo;
// two bidders (one on a phone-sized screen) watch it live, outbid each other, lose and regain
// their connection, one falls back to server-sent events, and both see the winner when the
// auction ends, all without reloading.
func TestLiveAuction(t *testing.T) {
	exe := requireChromium(t)
	s := startServer(t)
	sh := &shots{dir: screenshotDir(t)}
	t.Logf("e2e: server at %s, screenshots in %s", s.URL, sh.dir)

	seller := newBrowser(t, exe, "seller", s.URL, sh, 1280, 900, false)
	alice := newBrowser(t, exe, "alice", s.URL, sh, 1280, 900, false)
	bob := newBrowser(t, exe, "bob", s.URL, sh, 390, 844, true)

	// (1) Sign up through the form.
	seller.signup("sam.seller")
	alice.signup("alice")
	bob.signup("bob_b")

	// (2) List an item with a photo through the seller's form.
	photo := writePNG(t, "lamp.png")
	endsAt := time.Now().Add(auctionLife).UTC().Truncate(time.Second)
	id := seller.createAuction(map[string]string{
		"title":             "Brass desk lamp",
		"description":       "A 1950s brass desk lamp, rewired.\nWorks perfectly; small dent at the base.",
		"starting_price":    "10",
		"ends_at":           endsAt.Format("2006-01-02T15:04:05"),
		"extension_seconds": "0",
	}, photo)
	auctionPath := "/auctions/" + strconv.FormatInt(id, 10)
	seller.waitLive()
	seller.waitText("#auction-title", regexp.MustCompile(`^Brass desk lamp$`), stepTimeout)
	if n := mustEval[int](seller, "count photos", `document.querySelectorAll('main img[src^="/photos/"]').length`); n != 1 {
		seller.fail("show the photo", errorf("%d photos on the page, want 1", n))
	}
	seller.waitFor("the photo loads", `(() => { const i = document.querySelector('main img[src^="/photos/"]'); return !!i && i.complete && i.naturalWidth === 320 })()`, stepTimeout)
	seller.waitText("#current-price", regexp.MustCompile(`^\$10\.00$`), stepTimeout)
	if seller.exists("#bid-form") {
		seller.fail("no bid form for the seller", errorf("the seller's own page has #bid-form"))
	}
	seller.screenshot("auction page as its seller")

	// The list of open auctions shows it, with its time left counting down.
	seller.navigate("/")
	seller.waitFor("the auction on the list", `[...document.querySelectorAll('a[href="`+auctionPath+`"]')].some(a => a.textContent.includes('Brass desk lamp'))`, stepTimeout)
	first := seller.text("[data-ends-at]")
	seller.waitFor("the list's countdown ticks", `(() => { const e = document.querySelector('[data-ends-at]'); return !!e && e.textContent.trim() !== `+jsString(first)+` })()`, 3*time.Second)
	seller.screenshot("list of open auctions")
	seller.navigate(auctionPath)
	seller.waitLive()

	// (3) Both bidders watch the page; a bid in one shows in the other without a reload.
	for _, b := range []*browser{alice, bob} {
		b.navigate(auctionPath)
		b.markNoReload()
		b.waitLive()
		b.waitText("#current-price", regexp.MustCompile(`^\$10\.00$`), stepTimeout)
	}
	// Three watchers now (seller, alice, bob).
	seller.waitText("#watchers", regexp.MustCompile(`^3$`), stepTimeout)
	alice.screenshot("auction page before any bid")
	bob.screenshot("auction page before any bid (phone)")

	// The amount is checked before anything is sent.
	alice.bid("12.345", "")
	alice.waitText("#bid-message", regexp.MustCompile(`(?i)at most two`), stepTimeout)
	alice.screenshot("client-side amount check")

	alice.bid("10", "")
	alice.waitText("#bid-message", regexp.MustCompile(`(?i)placed`), stepTimeout)
	alice.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	alice.waitFor("winning style", `document.getElementById('bid-state').classList.contains('state-winning') && !document.getElementById('bid-state').hidden`, stepTimeout)
	bob.waitText("#current-price", regexp.MustCompile(`^\$10\.00$`), stepTimeout)
	bob.waitText("#high-bidder", regexp.MustCompile(`^alice$`), stepTimeout)
	bob.waitText("#bid-count", regexp.MustCompile(`^1$`), stepTimeout)
	bob.waitText("#min-next-bid", regexp.MustCompile(`^\$10\.50$`), stepTimeout)
	seller.waitText("#bid-count", regexp.MustCompile(`^1$`), stepTimeout)
	bob.waitFor("the bid in the history", `document.querySelectorAll('#bid-history li').length === 1`, stepTimeout)

	// (4) Bob outbids alice; alice is told without a reload.
	bob.bid("15", "")
	bob.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	alice.waitText("#current-price", regexp.MustCompile(`^\$15\.00$`), stepTimeout)
	alice.waitText("#bid-state", regexp.MustCompile(`^You have been outbid$`), stepTimeout)
	alice.waitFor("outbid style", `document.getElementById('bid-state').classList.contains('state-outbid')`, stepTimeout)
	alice.waitFor("the chart", `document.querySelectorAll('#price-chart svg polyline').length === 1`, stepTimeout)
	alice.screenshot("outbid")
	bob.screenshot("winning (phone)")

	// A bid below the minimum is refused with the new minimum.
	alice.bid("11", "")
	alice.waitText("#bid-message", regexp.MustCompile(`(?i)too low.*\$15\.50`), stepTimeout)

	// (6) Bob's connection drops and stays down; meanwhile alice outbids him, and he bids
	// again. When it comes back, his page catches up from the snapshot and his bid goes out.
	bob.eval(`window.__e2e.cut('hang')`)
	bob.waitFor("bob's page notices the drop", `document.getElementById('connection').dataset.state !== 'live' && window.__e2e.fakeSockets() > 0`, stepTimeout)
	alice.bid("20", "")
	alice.waitText("#current-price", regexp.MustCompile(`^\$20\.00$`), stepTimeout)
	alice.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	bob.sleep(500 * time.Millisecond)
	if got := bob.text("#current-price"); got != "$15.00" {
		bob.fail("stay stale while disconnected", errorf("#current-price = %q while disconnected", got))
	}
	bob.bid("25", "")
	bob.waitText("#bid-message", regexp.MustCompile(`(?i)reconnecting`), stepTimeout)
	bob.waitFor("the button waits for the answer", `document.getElementById('bid-submit').disabled`, stepTimeout)
	bob.screenshot("bid while disconnected (phone)")
	bob.eval(`window.__e2e.restore()`)
	bob.waitLive()
	bob.waitText("#current-price", regexp.MustCompile(`^\$25\.00$`), stepTimeout)
	bob.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	bob.waitText("#bid-count", regexp.MustCompile(`^4$`), stepTimeout)
	bob.waitFor("the history caught up", `document.querySelectorAll('#bid-history li').length === 4`, stepTimeout)
	alice.waitText("#bid-state", regexp.MustCompile(`^You have been outbid$`), stepTimeout)
	alice.waitText("#current-price", regexp.MustCompile(`^\$25\.00$`), stepTimeout)

	// Alice's socket closes right after her bid leaves, so its answer is lost. Her page
	// reconnects and sends the bid again with the same request_id; the server answers it as
	// the first time and places it once.
	alice.eval(`window.__e2e.loseNextAnswer()`)
	alice.bid("26", "")
	alice.waitText("#bid-message", regexp.MustCompile(`(?i)placed`), stepTimeout)
	alice.waitLive()
	alice.waitText("#current-price", regexp.MustCompile(`^\$26\.00$`), stepTimeout)
	alice.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	bob.waitText("#bid-count", regexp.MustCompile(`^5$`), stepTimeout)
	ids := mustEval[[]string](alice, "read the frames sent", `window.__e2e.sent().filter(m => m.type === 'bid' && m.amount === '26').map(m => m.request_id)`)
	if len(ids) != 2 || ids[0] != ids[1] || ids[0] == "" {
		alice.fail("resend the bid with the same request_id", errorf("bid frames for 26: request_ids %q", ids))
	}
	if status, body := s.api(t, "GET", "/api/v1/auctions/"+strconv.FormatInt(id, 10)+"/bids", "", nil); status != 200 || len(body["bids"].([]any)) != 5 {
		t.Fatalf("e2e: bids after the resent bid: %d %v", status, body)
	}

	// Alice's WebSockets stop working altogether: after a few failed attempts her page falls
	// back to server-sent events, and bids over the HTTP API.
	alice.eval(`window.__e2e.cut('fail')`)
	alice.waitFor("alice's page falls back to SSE", `document.getElementById('connection').dataset.state === 'fallback'`, 20*time.Second)
	bob.bid("30", "")
	bob.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	alice.waitText("#current-price", regexp.MustCompile(`^\$30\.00$`), stepTimeout)
	alice.waitText("#bid-state", regexp.MustCompile(`^You have been outbid$`), stepTimeout)
	alice.bid("31", "40")
	alice.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	alice.waitText("#current-price", regexp.MustCompile(`^\$31\.00$`), stepTimeout)
	bob.waitText("#current-price", regexp.MustCompile(`^\$31\.00$`), stepTimeout)
	bob.waitText("#bid-state", regexp.MustCompile(`^You have been outbid$`), stepTimeout)
	bob.bid("35", "")
	// Alice's maximum (40) answers for her: she leads at 36.00, and sees it over SSE.
	bob.waitText("#bid-message", regexp.MustCompile(`(?i)maximum is higher`), stepTimeout)
	alice.waitText("#current-price", regexp.MustCompile(`^\$36\.00$`), stepTimeout)
	alice.waitText("#bid-state", regexp.MustCompile(`^You are winning$`), stepTimeout)
	alice.waitText("#connection", regexp.MustCompile(`.`), stepTimeout)
	if st := mustEval[string](alice, "read the connection state", `document.getElementById('connection').dataset.state`); st != "fallback" {
		alice.fail("stay on SSE", errorf("#connection data-state = %q", st))
	}
	alice.screenshot("fallback to server-sent events")
	bob.screenshot("outbid by a maximum (phone)")
	seller.waitText("#current-price", regexp.MustCompile(`^\$36\.00$`), stepTimeout)
	seller.screenshot("auction page as its seller during bidding")

	// (5) The auction ends by itself; everyone sees the winner without reloading.
	if left := time.Until(endsAt); left < 2*time.Second {
		t.Fatalf("e2e: the bidding took too long: the auction ended %s before the test finished with it (auctionLife is %s)", -left, auctionLife)
	} else {
		t.Logf("e2e: bidding done %s before the end", left.Round(time.Second))
	}
	wait := time.Until(endsAt) + 15*time.Second
	for _, b := range []*browser{alice, bob, seller} {
		b.waitText("#countdown", regexp.MustCompile(`^Ended$`), wait)
		b.waitText("#auction-status", regexp.MustCompile(`^Closed$`), wait)
		b.waitText("#winner", regexp.MustCompile(`Won by alice|You won`), stepTimeout)
		b.waitFor("the winner shows", `!document.getElementById('winner').hidden`, stepTimeout)
		wait = stepTimeout
	}
	alice.waitText("#winner", regexp.MustCompile(`^You won at \$36\.00$`), stepTimeout)
	bob.waitText("#winner", regexp.MustCompile(`^Won by alice at \$36\.00$`), stepTimeout)
	for _, b := range []*browser{alice, bob} {
		b.waitFor("the history has every bid", `document.querySelectorAll('#bid-history li').length === 8`, stepTimeout)
		b.waitFor("the bid form goes away", `(() => { const f = document.getElementById('bid-form'); return !f || f.hidden || getComputedStyle(f).display === 'none' })()`, stepTimeout)
		b.checkNoReload()
	}
	alice.screenshot("ended, alice won")
	bob.screenshot("ended, bob lost (phone)")
	seller.screenshot("ended, as its seller")

	// Signing out closes the session's sockets with 1000: the page stops and says so.
	bob.eval(`fetch('/api/v1/sessions/current', {method: 'DELETE', credentials: 'same-origin',
		headers: {'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content}}).then(r => r.status)`)
	bob.waitFor("bob's page goes offline", `document.getElementById('connection').dataset.state === 'offline'`, stepTimeout)
	bob.sleep(1500 * time.Millisecond)
	if n := mustEval[int](bob, "count sockets", `window.__e2e.openSockets()`); n != 0 {
		bob.fail("no reconnect after signing out", errorf("%d sockets open after signing out", n))
	}
	bob.screenshot("signed out elsewhere")

	// The list of open auctions no longer shows it.
	seller.navigate("/")
	if seller.exists(`a[href="` + auctionPath + `"]`) {
		seller.fail("the list drops the ended auction", errorf("%s is still listed", auctionPath))
	}

	for _, b := range []*browser{seller, alice, bob} {
		b.checkQuiet()
	}
}

// signup creates the account through /signup and checks that the browser is then signed in.
func (b *browser) signup(username string) {
	b.t.Helper()
	b.navigate("/signup")
	b.screenshot("signup form")
	b.do("fill the signup form",
		chromedp.SendKeys(chromedp.CSS(`form[action="/signup"] input[name="username"]`), username),
		chromedp.SendKeys(chromedp.CSS(`form[action="/signup"] input[name="password"]`), password),
	)
	b.submitAndWait(`form[action="/signup"] [type="submit"]`, "/signup")
	b.waitFor("signed in as "+username, `document.body.textContent.includes(`+jsString(username)+`) && !!document.querySelector('form[action="/logout"]')`, stepTimeout)
	b.screenshot("after signup")
}

// createAuction fills the seller's form, attaches the photo and submits; it returns the id of
// the auction page it lands on.
func (b *browser) createAuction(fields map[string]string, photo string) int64 {
	b.t.Helper()
	b.navigate("/auctions/new")
	form := `form[action="/auctions"]`
	for name, value := range fields {
		sel := form + ` [name="` + name + `"]`
		if !b.exists(sel) {
			b.fail("fill the seller's form", errorf("no field %s", sel))
		}
		typ := mustEval[string](b, "field type", `document.querySelector(`+jsString(sel)+`).type`)
		switch typ {
		case "text", "textarea", "search", "":
			// Type it, as a seller would, over whatever the form suggests.
			b.eval(`document.querySelector(` + jsString(sel) + `).value = ''`)
			b.do("fill "+name, chromedp.SendKeys(chromedp.CSS(sel), value))
		default:
			// datetime-local, number: set the value as a script would, then tell the page.
			b.do("fill "+name, chromedp.SetValue(chromedp.CSS(sel), value))
			b.eval(`document.querySelector(` + jsString(sel) + `).dispatchEvent(new Event('change', {bubbles: true}))`)
		}
	}
	b.do("choose the photo", chromedp.SetUploadFiles(chromedp.CSS(form+` input[type="file"]`), []string{photo}))
	b.screenshot("seller's form filled in")
	b.submitAndWait(form+` [type="submit"]`, "/auctions/new")
	b.waitFor("the auction page", `!!document.getElementById('auction-page')`, stepTimeout)
	idText := mustEval[string](b, "read the auction id", `document.getElementById('auction-page').dataset.auctionId`)
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		b.fail("read the auction id", err)
	}
	return id
}

// submitAndWait clicks the submit button and waits until the browser has left from.
func (b *browser) submitAndWait(button, from string) {
	b.t.Helper()
	b.eval(`window.__leaving = true`)
	b.do("submit", chromedp.Click(chromedp.CSS(button)))
	b.waitFor("leave "+from, `!window.__leaving && document.readyState === 'complete'`, stepTimeout)
	if p := b.path(); p == from || p == "/auctions" {
		b.fail("submit the form on "+from, errorf("still on %s", p))
	}
}

// bid types an amount (and a maximum, when not empty) into the bid form and submits it.
func (b *browser) bid(amount, max string) {
	b.t.Helper()
	b.waitFor("the bid button is enabled", `!document.getElementById('bid-submit').disabled`, stepTimeout)
	b.eval(`(() => {
		document.getElementById('bid-amount').value = '';
		document.getElementById('bid-message').textContent = '';
		const m = document.getElementById('bid-max');
		if (m) m.value = '';
	})()`)
	steps := []chromedp.Action[chromedp.Void]{chromedp.SendKeys(chromedp.ID("bid-amount"), amount)}
	if max != "" {
		steps = append(steps, chromedp.SendKeys(chromedp.ID("bid-max"), max))
	}
	steps = append(steps, chromedp.Click(chromedp.ID("bid-submit")))
	b.do("bid "+amount, steps...)
}

// waitLive waits until the page's live connection is up over WebSocket.
func (b *browser) waitLive() {
	b.t.Helper()
	b.waitFor("the live connection", `document.getElementById('connection').dataset.state === 'live'`, stepTimeout)
}

// markNoReload marks the document; checkNoReload fails if the mark is gone (the page reloaded).
func (b *browser) markNoReload() { b.eval(`window.__noReload = 'yes'`) }

func (b *browser) checkNoReload() {
	b.t.Helper()
	if v := mustEval[string](b, "check for reloads", `String(window.__noReload)`); v != "yes" {
		b.fail("no reload", errorf("the page was reloaded"))
	}
}

// exists reports whether an element matches sel.
func (b *browser) exists(sel string) bool {
	b.t.Helper()
	return mustEval[bool](b, "look for "+sel, `!!document.querySelector(`+jsString(sel)+`)`)
}

// eval runs a script for its effect; a promise is awaited.
func (b *browser) eval(script string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](script, chromedp.EvalAwaitPromise)); err != nil {
		b.fail("run "+strings.SplitN(script, "\n", 2)[0], err)
	}
}

func (b *browser) sleep(d time.Duration) {
	b.t.Helper()
	b.do("wait", chromedp.Sleep(d))
}

var errorf = fmt.Errorf
