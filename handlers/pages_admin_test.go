package handlers

import (
	"net/url"
	"strings"
	"testing"

	"auctionhouse/auction"
)

func TestPageAdmin(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		a := e.createAuction(seller, map[string]any{"title": "First"})
		b := e.createAuction(seller, map[string]any{"title": "Second"})
		id := itoa(a.ID)

		anon := e.browser()
		anon.get("/admin").expectRedirect(t, "/login?next=%2Fadmin")
		tok := anon.token("/")
		anon.post("/admin/auctions/"+id+"/close", url.Values{"_csrf": {tok}}).expectRedirect(t, "/login?next=%2Fadmin")

		user := e.browser()
		user.signupForm("mallory")
		body := user.get("/admin").expectPage(t, 403)
		if !strings.Contains(body, "administrators only") {
			t.Errorf("the 403 page does not say why")
		}
		if strings.Contains(string(user.get("/").Body), `href="/admin"`) {
			t.Errorf("a non-admin sees the Admin link")
		}
		utok := user.token("/")
		user.post("/admin/auctions/"+id+"/close", url.Values{"_csrf": {utok}}).expectPage(t, 403)
		user.post("/admin/auctions/"+id+"/cancel", url.Values{"_csrf": {utok}}).expectPage(t, 403)
		if got := e.get(a.ID); got.Status != auction.StatusOpen {
			t.Fatalf("a non-admin changed the auction: %s", got.Status)
		}

		admin := e.adminBrowser()
		body = admin.get("/admin").expectPage(t, 200)
		if !strings.Contains(body, `href="/admin" aria-current="page"`) {
			t.Errorf("no Admin link in the header")
		}
		for _, v := range []auction.View{a, b} {
			for _, act := range []string{"close", "cancel"} {
				if !strings.Contains(body, `action="/admin/auctions/`+itoa(v.ID)+`/`+act+`"`) {
					t.Errorf("no %s button for auction %d", act, v.ID)
				}
			}
		}
		atok := csrfOf(t, admin.get("/admin"))

		// Without the token: 403 and nothing changes.
		admin.post("/admin/auctions/"+id+"/close", url.Values{}).expectPage(t, 403)
		admin.post("/admin/auctions/"+id+"/cancel", url.Values{"_csrf": {"wrong"}}).expectPage(t, 403)
		if got := e.get(a.ID); got.Status != auction.StatusOpen {
			t.Fatalf("closed without a CSRF token: %s", got.Status)
		}

		admin.post("/admin/auctions/"+id+"/close", url.Values{"_csrf": {atok}}).expectRedirect(t, "/admin?msg=closed&id="+id)
		if got := e.get(a.ID); got.Status != auction.StatusClosed || got.ClosedReason == nil || *got.ClosedReason != "admin" {
			t.Fatalf("after close: %+v", got)
		}
		admin.post("/admin/auctions/"+itoa(b.ID)+"/cancel", url.Values{"_csrf": {atok}, "page": {"2"}}).expectRedirect(t, "/admin?msg=cancelled&id="+itoa(b.ID)+"&page=2")
		if got := e.get(b.ID); got.Status != auction.StatusCancelled {
			t.Fatalf("after cancel: %+v", got)
		}
		body = admin.get("/admin?msg=closed&id="+id).expectPage(t, 200)
		if !strings.Contains(body, "Auction #"+id+" is closed.") {
			t.Errorf("no message after closing")
		}
		if strings.Contains(body, `action="/admin/auctions/`+id+`/close"`) {
			t.Errorf("a closed auction still has its buttons")
		}

		// Again: a conflict, shown as a message.
		admin.post("/admin/auctions/"+id+"/cancel", url.Values{"_csrf": {atok}}).expectRedirect(t, "/admin?msg=conflict&id="+id)
		body = admin.get("/admin?msg=conflict&id="+id).expectPage(t, 200)
		if !strings.Contains(body, "was already closed or cancelled") {
			t.Errorf("no conflict message")
		}
		admin.post("/admin/auctions/99999/close", url.Values{"_csrf": {atok}}).expectRedirect(t, "/admin?msg=not_found&id=99999")
		// Messages come from codes only.
		body = admin.get("/admin?msg=<b>x</b>&id=1").expectPage(t, 200)
		if strings.Contains(body, `class="flash`) {
			t.Errorf("an unknown code shows a message")
		}
	})
}

func TestPageAdminPaging(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		for range adminPageSize + 1 {
			e.createAuction(seller, nil)
		}
		admin := e.adminBrowser()
		body := admin.get("/admin").expectPage(t, 200)
		if strings.Count(body, "/close\"") != adminPageSize || !strings.Contains(body, `href="?page=2"`) {
			t.Errorf("page 1 should hold %d auctions and link to page 2", adminPageSize)
		}
		body = admin.get("/admin?page=2").expectPage(t, 200)
		if strings.Count(body, "/close\"") != 1 || !strings.Contains(body, `href="?page=1"`) {
			t.Errorf("page 2 should hold 1 auction and link back")
		}
	})
}
