package handlers

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Security headers (OWASP Secure Headers, ASVS V14.4). They are set in one place, on every
// response: the API's, the pages', the static files', the live endpoints' refusals and the
// errors that the HTTP server raises before any route runs (handleError sets them too).

const (
	// referrerPolicy sends other sites the origin only, never a path with an auction id or a
	// query, and nothing at all on a downgrade to plain HTTP.
	referrerPolicy = "strict-origin-when-cross-origin"
	// hstsValue: two years, subdomains included; sent only over TLS (see overTLS), since a
	// browser ignores it on plain HTTP and a server reached by plain HTTP must not claim it.
	hstsValue = "max-age=63072000; includeSubDomains"
)

// cspBefore and cspAfter surround connect-src's WebSocket sources. Nothing inline is allowed:
// no inline script, style attribute or event handler (the pages load /static/js and
// /static/css only; auction.js styles its chart through the CSSOM, which CSP does not govern).
// The page's JSON data block (<script type="application/json">) is not a script and needs no
// permission.
const (
	cspBefore = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"
	cspAfter  = "; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)

// contentSecurityPolicy is the policy for a request to host. 'self' does not cover WebSocket
// URLs in every browser (CSP level 2 browsers, older Safari), so connect-src names the
// server's own host under ws: and wss: explicitly: both, because behind a TLS-terminating
// proxy the server sees plain HTTP while the page, served over HTTPS, opens wss://. The host is
// the request's Host, the one the WebSocket origin check compares with; a Host that is not a
// plain host[:port] (it is client-supplied text and must not inject directives) falls back to
// any ws:/wss: URL, which is what the contract's pages would need anyway.
func contentSecurityPolicy(host string) string {
	if !plainHost(host) {
		return cspBefore + " ws: wss:" + cspAfter
	}
	return cspBefore + " ws://" + host + " wss://" + host + cspAfter
}

// plainHost reports whether h is a host name, IPv4 address or bracketed IPv6 address with an
// optional port, in the characters those are written with.
func plainHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}

// securityHeaders is the first middleware of the app: it sets the headers before anything
// else runs, so that every later handler's answer, whatever it is, carries them. It also marks
// the request as routed (see routed).
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	c.Locals(routedKey{}, true)
	s.setSecurityHeaders(c)
	return c.Next()
}

// routedKey is the Locals key of the mark that a request went through the app's middlewares.
type routedKey struct{}

// routed reports whether c went through the middlewares; an error for a request that did not
// was raised by the HTTP server itself while reading the request (handleError).
func routed(c *fiber.Ctx) bool {
	ok, _ := c.Locals(routedKey{}).(bool)
	return ok
}

// setSecurityHeaders sets the headers on c's response; setting them twice is harmless.
func (s *Server) setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	h.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	h.Set(fiber.HeaderReferrerPolicy, referrerPolicy)
	h.Set(fiber.HeaderXFrameOptions, "DENY")
	h.Set(fiber.HeaderContentSecurityPolicy, contentSecurityPolicy(string(c.Request().Host())))
	if s.overTLS(c) {
		h.Set(fiber.HeaderStrictTransportSecurity, hstsValue)
	}
}

// overTLS reports whether the client reached us over TLS: the connection itself is TLS, or,
// with Config.TrustProxy, the proxy in front says so in X-Forwarded-Proto. Fiber's own
// c.Protocol() believes X-Forwarded-Proto from anyone unless its trusted-proxy check is on,
// which is why it is not used here.
func (s *Server) overTLS(c *fiber.Ctx) bool {
	if c.Context().IsTLS() {
		return true
	}
	if !s.cfg.TrustProxy {
		return false
	}
	return strings.EqualFold(lastListItem(c.Get(fiber.HeaderXForwardedProto)), "https")
}

// clientIP is the address that per-address limits count: the TCP peer, or, with
// Config.TrustProxy, the address the proxy in front of us appended to X-Forwarded-For. Only the
// last entry is believed: the ones before it are whatever the client sent, and a client could
// otherwise pick a fresh address for every request. Without TrustProxy, a server behind a proxy
// sees every client at the proxy's address.
func (s *Server) clientIP(c *fiber.Ctx) string {
	if s.cfg.TrustProxy {
		if ip, err := netip.ParseAddr(lastListItem(c.Get(fiber.HeaderXForwardedFor))); err == nil {
			return ip.Unmap().String()
		}
	}
	return c.IP()
}

// lastListItem is the last element of a comma-separated header value, trimmed.
func lastListItem(v string) string {
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}
