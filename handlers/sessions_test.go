package handlers

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

func TestCreateSession(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.do("POST", "/api/v1/users", `{"username":"Ann","password":"12345678"}`).expect(t, 201)

		t.Run("signed in", func(t *testing.T) {
			res := e.do("POST", "/api/v1/sessions", `{"username":"Ann","password":"12345678"}`).expect(t, 201)
			var s session
			res.decode(t, &s)
			if !wellFormedToken(s.Token) || !wellFormedToken(s.CSRFToken) || s.Token == s.CSRFToken {
				t.Errorf("tokens %q and %q", s.Token, s.CSRFToken)
			}
			if s.User.ID <= 0 || s.User.Username != "Ann" || s.User.Admin {
				t.Errorf("user %+v", s.User)
			}
			c := res.cookieNamed(sessionCookie)
			if c == nil {
				t.Fatalf("no session cookie in %v", res.Header.Values("Set-Cookie"))
			}
			if c.Value != s.Token || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
				t.Errorf("cookie %+v", c)
			}
			if c.MaxAge < 29*24*3600 || c.MaxAge > 30*24*3600 {
				t.Errorf("cookie max age %d, want about 30 days", c.MaxAge)
			}
			// Only the hash of the token is stored.
			sess, err := e.store.SessionByTokenHash(context.Background(), hashToken(s.Token), e.srv.now())
			if err != nil {
				t.Fatalf("session by hash: %v", err)
			}
			if sess.TokenHash == s.Token || len(sess.TokenHash) != 64 {
				t.Errorf("stored token hash %q", sess.TokenHash)
			}
		})
		t.Run("username in another case", func(t *testing.T) {
			e.login("aNN", "12345678")
		})
		tests := []struct {
			name   string
			body   string
			status int
			code   auction.Code
		}{
			{"wrong password", `{"username":"Ann","password":"12345679"}`, 401, auction.CodeUnauthenticated},
			{"unknown user", `{"username":"nobody","password":"12345678"}`, 401, auction.CodeUnauthenticated},
			{"empty password", `{"username":"Ann","password":""}`, 401, auction.CodeUnauthenticated},
			{"password too long", jsonBody(map[string]string{"username": "Ann", "password": strings.Repeat("x", 100)}), 401, auction.CodeUnauthenticated},
			{"malformed JSON", `{"username":"Ann"`, 400, auction.CodeInvalidRequest},
			{"wrong types", `{"username":"Ann","password":true}`, 400, auction.CodeInvalidRequest},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := e.do("POST", "/api/v1/sessions", tt.body)
				res.expectError(t, tt.status, tt.code)
				if res.cookieNamed(sessionCookie) != nil {
					t.Errorf("a refused login set a cookie")
				}
			})
		}
	})
}

// clearsCookie reports whether the answer tells the browser to drop its session cookie.
func clearsCookie(res response) bool {
	c := res.cookieNamed(sessionCookie)
	return c != nil && c.Value == "" && (c.MaxAge < 0 || !c.Expires.IsZero() && c.Expires.Before(time.Now()))
}

func TestSecureCookie(t *testing.T) {
	e := newEnv(t, dbtest.SQLite(t), Config{SecureCookies: true}, nil)
	e.do("POST", "/api/v1/users", `{"username":"ann","password":"12345678"}`).expect(t, 201)
	res := e.do("POST", "/api/v1/sessions", `{"username":"ann","password":"12345678"}`).expect(t, 201)
	if c := res.cookieNamed(sessionCookie); c == nil || !c.Secure || !c.HttpOnly {
		t.Errorf("cookie %+v, want Secure and HttpOnly", c)
	}
}

func TestAuthentication(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann := e.signup("ann")
		bob := e.signup("bob")
		newAuction := auctionBody(nil)
		fakeToken := strings.Repeat("A", 43)

		t.Run("anonymous may read", func(t *testing.T) {
			e.do("GET", "/api/v1/auctions", "").expect(t, 200)
		})
		tests := []struct {
			name   string
			opts   []reqOpt
			status int
			code   auction.Code
		}{
			{"no credentials", nil, 401, auction.CodeUnauthenticated},
			{"malformed bearer", []reqOpt{header("Authorization", "Bearer not-a-token")}, 401, auction.CodeUnauthenticated},
			{"other scheme", []reqOpt{header("Authorization", "Basic YW5uOjEyMzQ1Njc4")}, 401, auction.CodeUnauthenticated},
			{"bearer without token", []reqOpt{header("Authorization", "Bearer")}, 401, auction.CodeUnauthenticated},
			{"unknown bearer", []reqOpt{bearer(fakeToken)}, 401, auction.CodeUnauthenticated},
			{"bad bearer beats good cookie", []reqOpt{bearer(fakeToken), cookie(ann.Token), csrf(ann.CSRFToken)}, 401, auction.CodeUnauthenticated},
			{"cookie without CSRF", []reqOpt{cookie(ann.Token)}, 403, auction.CodeForbidden},
			{"cookie with wrong CSRF", []reqOpt{cookie(ann.Token), csrf(bob.CSRFToken)}, 403, auction.CodeForbidden},
			{"cookie with CSRF in the query", []reqOpt{cookie(ann.Token)}, 403, auction.CodeForbidden},
			{"unknown cookie", []reqOpt{cookie(fakeToken), csrf(ann.CSRFToken)}, 401, auction.CodeUnauthenticated},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := "/api/v1/auctions"
				if strings.Contains(tt.name, "query") {
					path += "?_csrf=" + ann.CSRFToken
				}
				e.do("POST", path, newAuction, tt.opts...).expectError(t, tt.status, tt.code)
			})
		}
		t.Run("bad bearer refused even where anonymous is fine", func(t *testing.T) {
			e.do("GET", "/api/v1/auctions", "", bearer(fakeToken)).expectError(t, 401, auction.CodeUnauthenticated)
		})
		t.Run("stale cookie reads as anonymous and is cleared", func(t *testing.T) {
			res := e.do("GET", "/api/v1/auctions", "", cookie(fakeToken)).expect(t, 200)
			if !clearsCookie(res) {
				t.Errorf("stale cookie not cleared: %v", res.Header.Values("Set-Cookie"))
			}
		})
		t.Run("refused requests create nothing", func(t *testing.T) {
			var list struct{ Auctions []auction.View }
			e.do("GET", "/api/v1/auctions", "").expect(t, 200).decode(t, &list)
			if len(list.Auctions) != 0 {
				t.Errorf("%d auctions exist after refused requests", len(list.Auctions))
			}
		})
		t.Run("cookie with CSRF header", func(t *testing.T) {
			var v auction.View
			e.do("POST", "/api/v1/auctions", newAuction, cookie(ann.Token), csrf(ann.CSRFToken)).expect(t, 201).decode(t, &v)
			if v.Seller.Name != "ann" {
				t.Errorf("seller %+v", v.Seller)
			}
		})
		t.Run("bearer needs no CSRF", func(t *testing.T) {
			e.do("POST", "/api/v1/auctions", newAuction, bearer(bob.Token)).expect(t, 201)
		})
		t.Run("bearer beats cookie", func(t *testing.T) {
			// Ann's cookie, without CSRF, would be refused; Bob's bearer decides alone.
			var v auction.View
			e.do("POST", "/api/v1/auctions", newAuction, bearer(bob.Token), cookie(ann.Token)).expect(t, 201).decode(t, &v)
			if v.Seller.ID != bob.User.ID {
				t.Errorf("seller %+v, want bob", v.Seller)
			}
		})
		t.Run("sign-up and login ignore a cookie without CSRF", func(t *testing.T) {
			e.do("POST", "/api/v1/users", `{"username":"carl","password":"12345678"}`, cookie(ann.Token)).expect(t, 201)
			e.do("POST", "/api/v1/sessions", `{"username":"carl","password":"12345678"}`, cookie(ann.Token)).expect(t, 201)
		})
	})
}

func TestLogout(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		var mu sync.Mutex
		var loggedOut []int64
		e.srv.onLogout = func(id int64) {
			mu.Lock()
			defer mu.Unlock()
			loggedOut = append(loggedOut, id)
		}
		sessionID := func(token string) int64 {
			t.Helper()
			s, err := e.store.SessionByTokenHash(context.Background(), hashToken(token), e.srv.now())
			if err != nil {
				t.Fatalf("session: %v", err)
			}
			return s.ID
		}

		t.Run("bearer", func(t *testing.T) {
			ann := e.signup("ann")
			other := e.login("ann", testPassword)
			id := sessionID(ann.Token)
			res := e.do("DELETE", "/api/v1/sessions/current", "", as(ann)).expect(t, 204)
			if len(res.Body) != 0 {
				t.Errorf("body %q", res.Body)
			}
			if !clearsCookie(res) {
				t.Errorf("cookie not cleared: %v", res.Header.Values("Set-Cookie"))
			}
			mu.Lock()
			if len(loggedOut) != 1 || loggedOut[0] != id {
				t.Errorf("onLogout got %v, want [%d]", loggedOut, id)
			}
			mu.Unlock()
			if _, err := e.store.SessionByTokenHash(context.Background(), hashToken(ann.Token), e.srv.now()); err == nil {
				t.Errorf("session still stored")
			}
			e.do("POST", "/api/v1/auctions", auctionBody(nil), as(ann)).expectError(t, 401, auction.CodeUnauthenticated)
			e.do("DELETE", "/api/v1/sessions/current", "", as(ann)).expectError(t, 401, auction.CodeUnauthenticated)
			// Other sessions of the same user live on.
			e.do("POST", "/api/v1/auctions", auctionBody(nil), as(other)).expect(t, 201)
		})
		t.Run("cookie needs CSRF", func(t *testing.T) {
			bob := e.signup("bob")
			e.do("DELETE", "/api/v1/sessions/current", "", cookie(bob.Token)).expectError(t, 403, auction.CodeForbidden)
			// Refused: still signed in.
			e.do("POST", "/api/v1/auctions", auctionBody(nil), as(bob)).expect(t, 201)
			e.do("DELETE", "/api/v1/sessions/current", "", cookie(bob.Token), csrf(bob.CSRFToken)).expect(t, 204)
			e.do("POST", "/api/v1/auctions", auctionBody(nil), as(bob)).expectError(t, 401, auction.CodeUnauthenticated)
		})
		t.Run("cookie with CSRF form field", func(t *testing.T) {
			cy := e.signup("cyd")
			e.do("DELETE", "/api/v1/sessions/current", "_csrf="+cy.CSRFToken, cookie(cy.Token),
				header("Content-Type", "application/x-www-form-urlencoded")).expect(t, 204)
			e.do("POST", "/api/v1/auctions", auctionBody(nil), as(cy)).expectError(t, 401, auction.CodeUnauthenticated)
		})
		t.Run("anonymous", func(t *testing.T) {
			e.do("DELETE", "/api/v1/sessions/current", "").expectError(t, 401, auction.CodeUnauthenticated)
		})
	})
}

func TestEnsureAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		e := newEnv(t, s, Config{}, nil)
		ctx := context.Background()
		if err := e.srv.EnsureAdmin(ctx, "root", "first password"); err != nil {
			t.Fatal(err)
		}
		// Again with a new password: the account is kept and the password replaced.
		if err := e.srv.EnsureAdmin(ctx, "Root", "second password"); err != nil {
			t.Fatal(err)
		}
		e.do("POST", "/api/v1/sessions", `{"username":"root","password":"first password"}`).expectError(t, 401, auction.CodeUnauthenticated)
		if s := e.login("root", "second password"); !s.User.Admin {
			t.Errorf("not an admin: %+v", s.User)
		}
		for _, bad := range [][2]string{{"r", "long enough"}, {"root", "short"}, {"bad name", "long enough"}} {
			if err := e.srv.EnsureAdmin(ctx, bad[0], bad[1]); err == nil {
				t.Errorf("EnsureAdmin(%q, %q) accepted", bad[0], bad[1])
			}
		}
	})
}
