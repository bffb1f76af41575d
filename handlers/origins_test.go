package handlers

import (
	"testing"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// TestAPISignInFromAnotherSite: another site's page can post JSON to the API as a text/plain
// form, and with no one signed in there is no token to check. The API's sign-up and sign-in
// refuse such a post by its Origin (login CSRF), and take posts from the server's own pages,
// from ALLOWED_ORIGINS (written with its default port here) and from clients that send no
// Origin.
func TestAPISignInFromAnotherSite(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		e := newEnv(t, s, Config{AllowedOrigins: []string{"https://shop.example:443"}}, nil)
		e.do("POST", "/api/v1/users", `{"username":"ann","password":"12345678"}`).expect(t, 201)
		login := `{"username":"ann","password":"12345678","x":"="}`
		tests := []struct {
			name, path, body, origin string
			status                   int
		}{
			{"sign-in from another site", "/api/v1/sessions", login, "https://evil.example", 403},
			{"sign-in from a sandboxed frame", "/api/v1/sessions", login, "null", 403},
			{"sign-up from another site", "/api/v1/users", `{"username":"mallory","password":"12345678"}`, "https://evil.example", 403},
			{"sign-in from this site", "/api/v1/sessions", login, "http://example.com", 201},
			{"sign-in from an allowed origin", "/api/v1/sessions", login, "https://shop.example", 201},
			{"sign-in without Origin", "/api/v1/sessions", login, "", 201},
			{"sign-up from this site", "/api/v1/users", `{"username":"bob","password":"12345678"}`, "http://example.com", 201},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				opts := []reqOpt{header("Content-Type", "text/plain")}
				if tt.origin != "" {
					opts = append(opts, header("Origin", tt.origin))
				}
				res := e.do("POST", tt.path, tt.body, opts...)
				if tt.status != 403 {
					res.expect(t, tt.status)
					return
				}
				res.expectError(t, 403, auction.CodeForbidden)
				if res.cookieNamed(sessionCookie) != nil {
					t.Errorf("a refused sign-in set the session cookie")
				}
			})
		}
		t.Run("the refused sign-up created no one", func(t *testing.T) {
			e.do("POST", "/api/v1/sessions", `{"username":"mallory","password":"12345678"}`).expectError(t, 401, auction.CodeUnauthenticated)
		})
	})
}
