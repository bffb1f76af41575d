package handlers

import (
	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// CSRF protection of the pages' forms.
//
// A signed-in browser's forms carry its session's CSRF token (the same one the API checks, see
// signedIn). Visitors who are not signed in have no session, yet their forms (signing up,
// signing in) must be protected too, or another site could sign a victim into the attacker's
// account. They get a double-submit token: a random value in the anonCSRFCookie cookie, which
// the form repeats in its _csrf field. Another site can make a browser send the cookie, but
// cannot read it to put it in the form.

// anonCSRFCookie is the cookie of the double-submit token of visitors who are not signed in.
const anonCSRFCookie = "csrf"

// errFormCSRF refuses a form post without a valid token. The usual cause is a page left open
// across signing out or in, hence the advice.
var errFormCSRF = auction.Errorf(auction.CodeForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")

// errFormOrigin refuses a form post that a browser says comes from another site.
var errFormOrigin = auction.Errorf(auction.CodeForbidden, "This form was sent from another site, so it was refused.")

// pageCSRFToken is the token a page's forms carry: the session's for a signed-in user, else the
// visitor's double-submit token, issued (with its cookie) on first need.
func (s *Server) pageCSRFToken(c *fiber.Ctx) (string, error) {
	if id := identityOf(c); id != nil {
		return id.session.CSRFToken, nil
	}
	if token := c.Cookies(anonCSRFCookie); wellFormedToken(token) {
		return token, nil
	}
	token, err := newToken()
	if err != nil {
		return "", err
	}
	// Store it where a later pageCSRFToken of this request finds it too (an error page
	// rendered after a form page started, say), so that the form and the cookie agree.
	c.Request().Header.SetCookie(anonCSRFCookie, token)
	// No Expires: it lives as long as the browser session, like the form it protects.
	c.Cookie(&fiber.Cookie{
		Name:     anonCSRFCookie,
		Value:    token,
		Path:     "/",
		Secure:   s.secureCookies(c),
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
	return token, nil
}

// validAnonCSRF reports whether a form post carries the double-submit token of its cookie. The
// comparison is validCSRF's: constant time, header or _csrf field, never the query string.
func validAnonCSRF(c *fiber.Ctx) bool {
	token := c.Cookies(anonCSRFCookie)
	return wellFormedToken(token) && validCSRF(c, token)
}

// validSignedOutForm checks the token of a form that works without a session (signing up or
// in). The page may have been rendered with either kind of token: the session's when the
// browser was already signed in, the double-submit one otherwise; either proves the form came
// from one of our pages. A bearer-authenticated request needs no token (PROTOCOL.md §5).
func validSignedOutForm(c *fiber.Ctx) bool {
	if id := identityOf(c); id != nil {
		if !id.viaCookie || validCSRF(c, id.session.CSRFToken) {
			return true
		}
	}
	return validAnonCSRF(c)
}

// errFormSignIn tells a form handler that the visitor must sign in first; the handler sends it
// to the login page instead of failing.
var errFormSignIn = auction.Errorf(auction.CodeUnauthenticated, "sign in first")

// formUser returns the signed-in identity of a form post that acts on the user's behalf,
// after checking its CSRF token: errFormSignIn when nobody is signed in, errFormCSRF when
// the session cookie alone authenticates and the token is missing or wrong.
func formUser(c *fiber.Ctx) (*identity, error) {
	id := identityOf(c)
	if id == nil {
		return nil, errFormSignIn
	}
	if id.viaCookie && !validCSRF(c, id.session.CSRFToken) {
		return nil, errFormCSRF
	}
	return id, nil
}

// formOrigin refuses a form post whose Origin header names another site, unless that site is in
// ALLOWED_ORIGINS: a second line of defence beside the tokens, from the browser's own word.
// Posts without Origin (old browsers, scripts) rely on the token alone; "null" (sandboxed
// frames, some redirects) cannot be trusted and is refused.
func (s *Server) formOrigin(c *fiber.Ctx) error {
	if s.originAllowed(c) {
		return c.Next()
	}
	return errFormOrigin
}
