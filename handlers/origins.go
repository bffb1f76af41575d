package handlers

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// originPolicy is PROTOCOL.md §6's rule for a browser's Origin header, applied alike to
// WebSocket upgrades, form posts and the API's sign-up and sign-in: absent (not a browser) is
// allowed, as is the request's own host or an origin in ALLOWED_ORIGINS; "null" (sandboxed
// frames, file: pages) and anything else are refused. One rule for all three, so that an
// origin written as https://shop.example:443 in ALLOWED_ORIGINS means the same everywhere.
type originPolicy struct {
	allowed map[string]bool // normalized (NormalizeOrigin)
}

// newOriginPolicy normalizes ALLOWED_ORIGINS once; entries that are not origins are ignored
// (config.go refuses them at start, with NormalizeOrigin).
func newOriginPolicy(origins []string) originPolicy {
	p := originPolicy{allowed: make(map[string]bool, len(origins))}
	for _, o := range origins {
		if n, ok := NormalizeOrigin(o); ok {
			p.allowed[n] = true
		}
	}
	return p
}

// allows applies the policy to origin, the Origin header of a request to host.
func (p originPolicy) allows(origin, host string) bool {
	if origin == "" {
		return true
	}
	n, ok := NormalizeOrigin(origin)
	if !ok {
		return false
	}
	if p.allowed[n] {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && host != "" && strings.EqualFold(u.Host, host)
}

// originAllowed reports whether the request's Origin header passes the policy.
func (s *Server) originAllowed(c *fiber.Ctx) bool {
	return s.origins.allows(c.Get(fiber.HeaderOrigin), string(c.Request().Host()))
}

// errAPIOrigin refuses a sign-up or sign-in that a browser says another site's page sent.
var errAPIOrigin = auction.Errorf(auction.CodeForbidden, "signing up or in from another site's page is not allowed")

// apiOrigin guards the API's sign-up and sign-in, which need no token because nobody is signed
// in yet. Another site's page could otherwise post them, as a form with a text/plain body that
// is valid JSON, and sign the visitor into the attacker's account (login CSRF); the pages'
// /signup and /login are guarded by formOrigin and a double-submit token instead. Scripts and
// apps send no Origin and are not affected.
func (s *Server) apiOrigin(c *fiber.Ctx) error {
	if !s.originAllowed(c) {
		return errAPIOrigin
	}
	return c.Next()
}

// NormalizeOrigin lower-cases scheme://host[:port] and drops the scheme's default port, so
// that https://Shop.example:443 and https://shop.example compare equal; browsers send the
// latter. It refuses anything that is not an http(s) origin, including "null". The
// configuration checks ALLOWED_ORIGINS with it, so what starts is what the policy applies.
func NormalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") { // IPv6 literal
			host = "[" + host + "]"
		}
	}
	return scheme + "://" + host, true
}
