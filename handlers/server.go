// Package handlers is the HTTP side of the auction house: the JSON API, sessions and CSRF, and
// (later) the pages, WebSockets and server-sent events. Every handler has the same shape: parse
// the request, call the engine or the store, render the answer. Rules live in package auction.
package handlers

import (
	"io/fs"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// DefaultBodyLimit bounds request bodies when Config.BodyLimit is zero. The largest legitimate
// body is a new auction at its longest: 10,200 characters of title and description, each up to
// 12 bytes when a client escapes an emoji as a JSON surrogate pair (or a form percent-encodes
// its four UTF-8 bytes), about 123 KB in all.
const DefaultBodyLimit = 128 << 10

// Config is what the HTTP layer needs from the environment. The zero value is usable.
type Config struct {
	// AllowedOrigins are the extra origins (besides the server's own) that may open WebSockets
	// and post forms (ALLOWED_ORIGINS).
	AllowedOrigins []string
	// SecureCookies marks the session cookie Secure even on plain-HTTP requests, for a server
	// behind a TLS-terminating proxy. Requests that arrive over TLS always get Secure cookies.
	SecureCookies bool
	// BodyLimit is the largest accepted request body in bytes; zero means DefaultBodyLimit.
	BodyLimit int
	// BcryptCost is the cost of new password hashes; zero means bcrypt.DefaultCost. Tests use
	// bcrypt.MinCost so that signing up does not dominate their run time.
	BcryptCost int
	// DisableRateLimits turns off every rate limit and connection cap (RATE_LIMITS=off): bids
	// per user, failed logins, signups, live connections per address and per user. For load
	// tests from one address.
	DisableRateLimits bool
	// TrustProxy says the server runs behind one reverse proxy that sets X-Forwarded-For and
	// X-Forwarded-Proto: the client's address is then the last X-Forwarded-For entry (for the
	// per-address limits), and X-Forwarded-Proto: https counts as TLS (for HSTS and Secure
	// cookies). Off, both headers are ignored, since any client can send them (TRUST_PROXY).
	TrustProxy bool
	// ReadTimeout bounds reading one request, headers and body, and UploadReadTimeout the
	// seller's form with its photos; WriteTimeout bounds writing one response (WebSockets
	// and event streams time each write instead); IdleTimeout bounds the wait for the next request on a kept-alive connection.
	// Zero means the Default… values below; see requestLimits.
	ReadTimeout       time.Duration
	UploadReadTimeout time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// Templates holds the page templates (the repository's templates/ directory) and Static the
	// CSS, JavaScript and images (static/). main embeds both; tests use os.DirFS. A nil
	// Templates serves the JSON API and live endpoints only.
	Templates fs.FS
	Static    fs.FS
	// UploadDir is where auction photos are stored (UPLOAD_DIR).
	UploadDir string
	// MaxPhotoBytes bounds one photo and MaxPhotos the photos of one auction.
	MaxPhotoBytes int64
	MaxPhotos     int
	// Metrics is shared with the engine (auction.Options.Metrics); nil makes a fresh one.
	Metrics *Metrics
}

// Photo defaults: a phone photo fits, and one auction's form stays a few tens of MiB at most.
const (
	DefaultMaxPhotoBytes = 5 << 20
	DefaultMaxPhotos     = 5
	DefaultUploadDir     = "uploads"
)

// Server timeouts. They free the goroutine and connection of a client that sends or reads
// too slowly (slowloris and its mirror image), and let a graceful shutdown close idle
// keep-alive connections. WebSockets are unaffected: fasthttp clears every deadline when it
// hands the connection over, and the WebSocket code sets its own (a 60 s pong wait, 10 s per
// write). Event streams get no write timeout at all (requestLimits): they are one response that
// lasts as long as the client watches, and a vanished client is noticed by the keep-alive
// write failing.
const (
	// DefaultReadTimeout: the request line, headers and a body of at most BodyLimit; a browser
	// or script sends those in well under a second.
	DefaultReadTimeout = 30 * time.Second
	// DefaultUploadReadTimeout: the seller's form may carry MaxPhotos×MaxPhotoBytes (25 MiB),
	// about 3.5 minutes on a 1 Mbit/s uplink.
	DefaultUploadReadTimeout = 5 * time.Minute
	// DefaultWriteTimeout: the largest answers are a 5 MiB photo and the full bid list of a
	// busy auction; two minutes is generous on a slow phone link.
	DefaultWriteTimeout = 2 * time.Minute
	// DefaultIdleTimeout: long enough for a browser to reuse its connection between clicks.
	DefaultIdleTimeout = 60 * time.Second
	// headerBufferSize bounds the request line and headers together; a request with more gets
	// 431. Fiber's default, 4 KiB, is kept: our own cookies and headers take a few hundred
	// bytes, and fasthttp keeps this buffer for the whole life of every WebSocket, so doubling
	// it would cost 4 KiB per idle watcher.
	headerBufferSize = 4096
)

func (c Config) withDefaults() Config {
	if c.BodyLimit <= 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.MaxPhotoBytes <= 0 {
		c.MaxPhotoBytes = DefaultMaxPhotoBytes
	}
	if c.MaxPhotos <= 0 {
		c.MaxPhotos = DefaultMaxPhotos
	}
	if c.UploadDir == "" {
		c.UploadDir = DefaultUploadDir
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = bcrypt.DefaultCost
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.UploadReadTimeout <= 0 {
		c.UploadReadTimeout = DefaultUploadReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Server holds the dependencies of every handler. It has no mutable state of its own beyond
// what it is built with, so one Server can serve any number of requests at once.
type Server struct {
	cfg    Config
	store  *models.Store
	engine *auction.Engine
	log    *slog.Logger
	now    func() time.Time

	// dummyHash is compared against when a login names an unknown user, so that such a login
	// costs as much time as one with a wrong password and does not reveal which names exist.
	dummyHash []byte

	// comparePassword is bcrypt.CompareHashAndPassword; tests count its calls.
	comparePassword func(hash, password []byte) error
	// logins throttles failed logins and signups new accounts (throttle.go); nil with
	// RATE_LIMITS=off.
	logins  *loginThrottle
	signups *addrThrottle

	// onLogout, when set, is called with the id of a session that just signed out, so that the
	// live layer can close that session's sockets.
	onLogout func(sessionID int64)

	// live tracks the open WebSocket and SSE connections (live.go).
	live *liveHub
	// origins is the Origin rule of WebSocket upgrades, form posts and the API's sign-up and
	// sign-in (origins.go).
	origins originPolicy
	// metrics is exported at /metrics.
	metrics *Metrics
	// anonPages caches auction pages as anonymous visitors see them (pages_cache.go).
	anonPages *anonPages
}

// New returns a Server. logger may be nil, which means slog.Default().
func New(cfg Config, store *models.Store, engine *auction.Engine, logger *slog.Logger) *Server {
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		cfg:    cfg,
		store:  store,
		engine: engine,
		log:    logger,
		now:    time.Now,

		comparePassword: bcrypt.CompareHashAndPassword,
	}
	if !cfg.DisableRateLimits {
		s.logins = newLoginThrottle()
		s.signups = newAddrThrottle(signupsPerAddr, signupWindow)
	}
	// The password is irrelevant; only the cost matters, and it must match real hashes'.
	h, err := bcrypt.GenerateFromPassword([]byte("not a real password"), cfg.BcryptCost)
	if err != nil {
		// Only an out-of-range cost fails; fall back rather than crash, and say so.
		logger.Error("bcrypt cost out of range; using the default", "cost", cfg.BcryptCost, "err", err)
		s.cfg.BcryptCost = bcrypt.DefaultCost
		h, _ = bcrypt.GenerateFromPassword([]byte("not a real password"), bcrypt.DefaultCost)
	}
	s.dummyHash = h
	s.origins = newOriginPolicy(cfg.AllowedOrigins)
	s.live = newLiveHub(s)
	s.anonPages = newAnonPages()
	s.onLogout = s.live.closeSession
	s.metrics = cfg.Metrics
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.watch(s)
	return s
}

// App builds the Fiber application with every route. Each call builds a new, independent app.
func (s *Server) App() *fiber.App {
	app := fiber.New(fiber.Config{
		// The seller's form carries photos; every other route is held to BodyLimit by limitBody.
		BodyLimit:    s.cfg.BodyLimit + s.cfg.MaxPhotos*int(s.cfg.MaxPhotoBytes),
		ErrorHandler: s.handleError,
		Views:        s.views(),
		// Fiber's strings normally alias pooled buffers that are reused after the handler
		// returns; values that reach the engine (request ids, names) outlive the request, so
		// make every string a copy rather than auditing each call.
		Immutable:             true,
		DisableStartupMessage: true,
		// PROTOCOL.md: "all interfaces". Fiber v2 listens on tcp4 unless told otherwise, which
		// left IPv6 clients unanswered; tcp is both where the host has IPv6, and IPv4 where not.
		Network: fiber.NetworkTCP,
		// Timeouts: see the Default… constants. The write timeout is set per request by
		// requestLimits, because fasthttp cannot lift a server-wide one for event streams.
		ReadTimeout:    s.cfg.ReadTimeout,
		IdleTimeout:    s.cfg.IdleTimeout,
		ReadBufferSize: headerBufferSize,
		// Return fasthttp's read and write buffers to their pools between requests. Above all,
		// a WebSocket upgraded with no frame yet buffered then gives back its 4 KiB read
		// buffer, which fasthttp otherwise keeps for the socket's whole life: idle watchers
		// measured 4 KiB cheaper each (BENCHMARKS.md).
		ReduceMemoryUsage: true,
	})
	app.Server().HeaderReceived = s.requestLimits

	// First, so that every answer, errors included, carries the security headers.
	app.Use(s.securityHeaders)
	app.Use(sanitizeRequestID)
	// Random ids rather than the default counter-based ones, which reveal the request volume.
	app.Use(requestid.New(requestid.Config{Generator: utils.UUIDv4}))
	app.Use(s.logRequests)
	app.Use(recover.New(recover.Config{
		EnableStackTrace:  true,
		StackTraceHandler: s.logPanic,
	}))

	app.Get("/healthz", s.health)
	app.Get("/metrics", s.metrics.handler())

	api := app.Group("/api/v1", s.limitBody, s.authenticate)
	api.Post("/users", s.apiOrigin, s.createUser)
	api.Post("/sessions", s.apiOrigin, s.createSession)
	api.Delete("/sessions/current", s.requireUser, s.deleteSession)
	api.Get("/auctions", s.listAuctions)
	api.Post("/auctions", s.requireUser, s.createAuction)
	api.Get("/auctions/:id", s.getAuction)
	api.Get("/auctions/:id/bids", s.listBids)
	api.Post("/auctions/:id/bids", s.requireUser, s.placeBid)
	api.Post("/auctions/:id/buy", s.requireUser, s.buyNow)
	api.Post("/auctions/:id/close", s.requireAdmin, s.closeAuction)
	api.Post("/auctions/:id/cancel", s.requireAdmin, s.cancelAuction)

	s.routeLive(app)
	s.routePages(app)
	return app
}

// requestLimits chooses the limits of one request as soon as its header is read, before the
// body: the body limit, the read timeout and the write timeout. Only the seller's form (POST
// /auctions, photos) may send more than BodyLimit and take longer than ReadTimeout, so every
// other request is cut off by the HTTP server at BodyLimit instead of being read into memory up
// to the photo form's limit. WebSockets and event streams are hijacked, which clears the write
// deadline; they set their own per write (wsWriteWait, sseWriteWait). The path is matched the
// way Fiber routes it (case-insensitive, a trailing slash ignored).
func (s *Server) requestLimits(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	rc := fasthttp.RequestConfig{MaxRequestBodySize: s.cfg.BodyLimit, WriteTimeout: s.cfg.WriteTimeout}
	method := string(h.Method())
	var uri fasthttp.URI
	if err := uri.Parse(nil, h.RequestURI()); err != nil {
		return rc
	}
	path := strings.ToLower(string(uri.PathOriginal()))
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if method == fiber.MethodPost && path == "/auctions" {
		// Zero means the server-wide limit: BodyLimit plus the photos.
		rc.MaxRequestBodySize = 0
		rc.ReadTimeout = s.cfg.UploadReadTimeout
	}
	return rc
}

// isEventsPath reports whether a lower-cased path is /auctions/{id}/events, the event stream.
func isEventsPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/auctions/")
	if !ok {
		return false
	}
	id, ok := strings.CutSuffix(rest, "/events")
	return ok && id != "" && !strings.Contains(id, "/")
}

// limitBody holds a route to Config.BodyLimit; the app-wide limit is larger only for photos.
// requestLimits already refuses bigger bodies while reading them; this is the check that does
// not depend on matching the path there.
func (s *Server) limitBody(c *fiber.Ctx) error {
	if len(c.Body()) > s.cfg.BodyLimit {
		return fiber.ErrRequestEntityTooLarge
	}
	return c.Next()
}

// maxRequestIDLen bounds a client-supplied X-Request-ID; longer or odd ones are replaced.
const maxRequestIDLen = 64

// sanitizeRequestID drops an incoming X-Request-ID that is too long or holds anything but
// letters, digits and -_.:, so that clients cannot stuff the logs; requestid then makes a new one.
func sanitizeRequestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if id == "" {
		return c.Next()
	}
	ok := len(id) <= maxRequestIDLen
	for i := 0; ok && i < len(id); i++ {
		ch := id[i]
		ok = ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '-' || ch == '_' || ch == '.' || ch == ':'
	}
	if !ok {
		c.Request().Header.Del(fiber.HeaderXRequestID)
	}
	return c.Next()
}

// requestID returns the id the requestid middleware gave this request, or "".
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	return id
}

// logRequests logs one line per request. It renders errors itself, rather than leaving that to
// Fiber after it returns, so that the logged status is the one sent. Only the method, the path
// (without the query), the status, the duration, the request id and the user id are logged:
// never headers, cookies, bodies, passwords or tokens.
func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	attrs := []any{
		"method", c.Method(),
		"path", c.Path(),
		"status", status,
		"duration", time.Since(start),
		"request_id", requestID(c),
	}
	if id := identityOf(c); id != nil {
		attrs = append(attrs, "user_id", id.user.ID)
	}
	level := slog.LevelInfo
	if status >= fiber.StatusInternalServerError {
		level = slog.LevelError
	}
	s.log.Log(c.UserContext(), level, "request", attrs...)
	return nil
}

// logPanic logs a recovered panic with its stack; the recover middleware then turns it into an
// error, which is answered as an internal error.
func (s *Server) logPanic(c *fiber.Ctx, e any) {
	s.log.Error("panic while handling request",
		"panic", e, "method", c.Method(), "path", c.Path(), "request_id", requestID(c),
		"stack", string(debug.Stack()))
}
