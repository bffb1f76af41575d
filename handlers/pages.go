package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/etag"
	"github.com/gofiber/fiber/v2/middleware/filesystem"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// staticMaxAge is how long browsers may keep /static files without asking again. The names
// carry no content hash, so this stays short; the ETag makes the revalidation after it cheap.
const staticMaxAge = time.Hour

// views is the page template set, or nil without Config.Templates. Every page is a file of
// templates/ named by its path without ".html" ("home", "auctions/show"); the shared header and
// footer are the "top" and "bottom" templates of templates/partials/, which pages include
// themselves rather than being wrapped in a layout.
func (s *Server) views() fiber.Views {
	if s.cfg.Templates == nil {
		return nil
	}
	// Parsed now, so that a broken template is reported at start rather than on first view.
	v, err := parsePageTemplates(s.cfg.Templates, pageFuncs())
	if err != nil {
		s.log.Error("cannot load the page templates; pages will fail", "err", err)
		return brokenViews{err}
	}
	return v
}

// brokenViews answers every render with the error that stopped the templates from parsing.
type brokenViews struct{ err error }

func (b brokenViews) Load() error { return b.err }

func (b brokenViews) Render(io.Writer, string, any, ...string) error { return b.err }

// routePages adds the HTML pages, the photos and the static files. Without Config.Templates it
// adds nothing, so a server built for the API alone has no half-working pages.
//
// Every page route runs pageErrors (errors become HTML pages, not the API's JSON) and then
// authenticate. Form posts also run formOrigin, and all but the seller's form, which carries
// photos, are held to Config.BodyLimit.
func (s *Server) routePages(app *fiber.App) {
	if s.cfg.Templates == nil {
		return
	}
	if s.cfg.Static != nil {
		app.Use("/static", etag.New(), filesystem.New(filesystem.Config{
			Root:   http.FS(s.cfg.Static),
			MaxAge: int(staticMaxAge.Seconds()),
		}))
	}
	app.Get("/photos/:name", s.pageErrors, s.servePhoto)

	get := func(path string, h fiber.Handler) {
		app.Get(path, s.pageErrors, s.authenticate, h)
	}
	post := func(path string, h fiber.Handler) {
		app.Post(path, s.pageErrors, s.formOrigin, s.limitBody, s.authenticate, h)
	}

	get("/", s.homePage)
	get("/signup", s.signupPage)
	post("/signup", s.signupSubmit)
	get("/login", s.loginPage)
	post("/login", s.loginSubmit)
	get("/logout", s.logoutPage)
	post("/logout", s.logoutSubmit)

	// /auctions/new before /auctions/:id, which would otherwise take "new" for an id.
	get("/auctions/new", s.sellPage)
	app.Post("/auctions", s.pageErrors, s.formOrigin, s.authenticate, s.sellSubmit)
	get("/auctions/:id", s.auctionPage)
	post("/auctions/:id/bid", s.bidSubmit)
	post("/auctions/:id/buy", s.buySubmit)

	get("/account", s.accountPage)
	get("/admin", s.adminPage)
	post("/admin/auctions/:id/close", s.adminCloseSubmit)
	post("/admin/auctions/:id/cancel", s.adminCancelSubmit)

	// Last: whatever no route took. Pages get an HTML 404 (or 405); the API, live and
	// operational paths keep the JSON errors of handleError.
	app.Use(s.pageNotFound)
}

// isPagePath reports whether a path belongs to the browser side, whose errors are HTML pages.
func isPagePath(path string) bool {
	for _, prefix := range []string{"/api/", "/ws/"} {
		if strings.HasPrefix(path, prefix) {
			return false
		}
	}
	switch path {
	case "/api", "/ws", "/healthz", "/metrics":
		return false
	}
	return true
}

// pagePath reports whether this server answers errors on path with HTML pages: it has pages,
// and the path is the browser side's, the event stream aside (a live endpoint, whose errors
// are JSON like the WebSocket's).
func (s *Server) pagePath(path string) bool {
	return s.cfg.Templates != nil && isPagePath(path) && !isEventsPath(strings.ToLower(strings.TrimSuffix(path, "/")))
}

// pageNotFound answers a page path that no route took with an HTML 404 (or 405 when the path
// exists for another method), and passes every other path on to Fiber's JSON errors.
func (s *Server) pageNotFound(c *fiber.Ctx) error {
	if !isPagePath(c.Path()) {
		return c.Next()
	}
	setPageHeaders(c)
	// authenticate resolves who is asking (for the header's links) and then calls Next, which
	// finds no route and returns Fiber's 404 or 405.
	if err := s.authenticate(c); err != nil {
		return s.renderError(c, err)
	}
	return nil
}

// page is what every page template gets: the parts the header and footer need, and Data, the
// page's own content.
type page struct {
	// Title is the page's <title>, before " · Auction house".
	Title string
	// Nav names the active header link: "auctions", "sell", "account", "admin", "login",
	// "signup" or "".
	Nav string
	// User is the signed-in user, or nil.
	User *models.User
	// CSRF is the token every form of the page carries, also in <meta name="csrf-token">.
	CSRF string
	// Scripts are the /static/js files the page loads (deferred).
	Scripts []string
	// Now is the server clock when the page was rendered; ServerTime is the same in RFC 3339,
	// for data-server-time, which lets list.js count down on the server's clock.
	Now        time.Time
	ServerTime string
	Data       any
}

// render writes a page with the given status. It fills the parts of p that come from the
// request: the user, the CSRF token and the clock.
func (s *Server) render(c *fiber.Ctx, status int, name string, p page) error {
	if id := identityOf(c); id != nil {
		p.User = id.user
	}
	token, err := s.pageCSRFToken(c)
	if err != nil {
		return err
	}
	p.CSRF = token
	p.Now = s.now().UTC()
	p.ServerTime = auction.FormatTime(p.Now)
	html, err := s.execute(c, name, p)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(html)
}

// execute renders the page template name with p.
func (s *Server) execute(c *fiber.Ctx, name string, p page) ([]byte, error) {
	// The engine is called directly rather than through c.Render, which builds a lazy index of
	// mounted apps on its first call without a lock: a data race between the first page views.
	views := c.App().Config().Views
	if views == nil {
		return nil, errors.New("render: no page templates configured")
	}
	var buf bytes.Buffer
	if err := views.Render(&buf, name, p); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// pageErrors sets the headers every page shares and turns an error of the handlers after it
// into an HTML error page.
func (s *Server) pageErrors(c *fiber.Ctx) error {
	setPageHeaders(c)
	if err := c.Next(); err != nil {
		return s.renderError(c, err)
	}
	return nil
}

// setPageHeaders sets the headers every page shares: pages carry CSRF tokens and personal data,
// so no cache may keep them. The security headers (no framing, no sniffing, the CSP, the
// referrer policy) are on every response, pages included, from securityHeaders (security.go).
func setPageHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
}

// errorPage is the content of templates/error.html.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

// renderError answers err as an HTML page with the status the API would use. Internal errors
// are logged by describe and shown with a generic message only.
func (s *Server) renderError(c *fiber.Ctx, err error) error {
	status, code, msg := s.describe(c, err)
	var fe *fiber.Error
	isFiber := errors.As(err, &fe)
	heading := "Something went wrong"
	switch status {
	case fiber.StatusNotFound:
		heading = "Page not found"
		if isFiber || code != auction.CodeNotFound {
			msg = "There is no page at this address."
		} else {
			msg = "There is no such auction. It may have been mistyped."
		}
	case fiber.StatusMethodNotAllowed:
		heading = "Not allowed"
		msg = "This page cannot be used that way."
	case fiber.StatusForbidden:
		heading = "Not allowed"
	case fiber.StatusUnauthorized:
		heading = "Please sign in again"
	case fiber.StatusRequestEntityTooLarge:
		heading = "Too large"
	case fiber.StatusServiceUnavailable:
		heading = "Busy"
	case fiber.StatusTooManyRequests:
		heading = "Too many requests"
	case fiber.StatusInternalServerError:
		msg = "The server could not finish this request. Please try again in a moment."
	}
	if status < 400 {
		status = fiber.StatusInternalServerError
	}
	setRetryAfter(c, status, err)
	// Whatever the failed handler had started to write is dropped.
	c.Response().ResetBody()
	p := page{Title: heading, Data: errorPage{Status: status, Heading: heading, Message: msg}}
	if rerr := s.render(c, status, "error", p); rerr != nil {
		s.log.Error("cannot render the error page", "err", rerr, "request_id", requestID(c))
		c.Response().ResetBody()
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		return c.Status(status).SendString(heading + ": " + msg)
	}
	return nil
}

// redirect sends a browser on to location with 303 See Other, so that the next request is a GET
// even after a form post.
func redirect(c *fiber.Ctx, location string) error {
	return c.Redirect(location, fiber.StatusSeeOther)
}

// loginRedirect sends an anonymous visitor to the login page, to come back to next afterwards.
func loginRedirect(c *fiber.Ctx, next string) error {
	return redirect(c, "/login?next="+url.QueryEscape(next))
}
