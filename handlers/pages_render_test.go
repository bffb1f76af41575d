package handlers

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestPagesRender loads every page as the user it is for and checks the rules all pages keep
// (see expectPage), and the header's links for each kind of visitor.
func TestPagesRender(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		v := e.createAuction(seller, nil)
		anon := e.browser()
		user := e.browser()
		user.signupForm("user")
		admin := e.adminBrowser()

		for _, tc := range []struct {
			who  string
			b    *browser
			path string
		}{
			{"anonymous", anon, "/"},
			{"anonymous", anon, "/signup"},
			{"anonymous", anon, "/login"},
			{"anonymous", anon, "/logout"},
			{"anonymous", anon, "/auctions/" + itoa(v.ID)},
			{"user", user, "/"},
			{"user", user, "/signup"},
			{"user", user, "/login"},
			{"user", user, "/logout"},
			{"user", user, "/auctions/new"},
			{"user", user, "/auctions/" + itoa(v.ID)},
			{"user", user, "/account"},
			{"admin", admin, "/admin"},
			{"admin", admin, "/account"},
		} {
			body := tc.b.get(tc.path).expectPage(t, 200)
			signedIn := strings.Contains(body, `action="/logout"`)
			if tc.who == "anonymous" {
				if signedIn || !strings.Contains(body, `href="/login"`) || !strings.Contains(body, `href="/signup"`) {
					t.Errorf("%s %s: the header should offer Log in and Sign up", tc.who, tc.path)
				}
				continue
			}
			if !signedIn || !strings.Contains(body, `href="/account"`) {
				t.Errorf("%s %s: the header should offer My account and Log out", tc.who, tc.path)
			}
			if hasAdmin := strings.Contains(body, `href="/admin"`); hasAdmin != (tc.who == "admin") {
				t.Errorf("%s %s: Admin link shown = %v", tc.who, tc.path, hasAdmin)
			}
		}
	})
}

// TestPagesRenderConcurrently renders pages from many goroutines at once, for the race
// detector: the template set is shared by every request.
func TestPagesRenderConcurrently(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		seller := e.signup("seller")
		v := e.createAuction(seller, nil)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				path := []string{"/", "/auctions/" + itoa(v.ID), "/login", "/nope"}[i%4]
				res, err := e.app.Test(httptest.NewRequest("GET", path, nil), -1)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode != 200 && res.StatusCode != 404 {
					t.Errorf("GET %s: %d", path, res.StatusCode)
				}
			})
		}
		wg.Wait()
	})
}
