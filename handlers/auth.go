package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// Session and credential parameters.
const (
	// sessionCookie is the name of the session cookie.
	sessionCookie = "session"
	// csrfHeader and csrfField carry the CSRF token of a cookie-authenticated request
	// (PROTOCOL.md §5).
	csrfHeader = "X-CSRF-Token"
	csrfField  = "_csrf"
	// sessionLifetime is how long a session lasts after signing in.
	sessionLifetime = 30 * 24 * time.Hour

	// tokenBytes is the entropy of session and CSRF tokens; base64url without padding makes
	// them 43 characters.
	tokenBytes = 32

	minUsernameLen = 3
	maxUsernameLen = 32
	minPasswordLen = 8
	// maxPasswordLen is bcrypt's limit: it ignores (or refuses) anything past 72 bytes.
	maxPasswordLen = 72
)

// identity is who a request comes from. viaCookie says the session cookie, not a bearer
// token, authenticated it, which is when state-changing requests need the CSRF token.
type identity struct {
	user      *models.User
	session   *models.Session
	viaCookie bool
}

// identityKey is the Locals key of the request's *identity.
type identityKey struct{}

// identityOf returns the request's signed-in identity, or nil for an anonymous request.
func identityOf(c *fiber.Ctx) *identity {
	id, _ := c.Locals(identityKey{}).(*identity)
	return id
}

// currentUser returns the signed-in user; only call it behind requireUser or requireAdmin.
func currentUser(c *fiber.Ctx) *models.User { return identityOf(c).user }

// userRef is the engine's name for the signed-in user.
func userRef(u *models.User) auction.UserRef { return auction.UserRef{ID: u.ID, Name: u.Username} }

// authenticate resolves who the request comes from, without requiring anyone. An Authorization
// header, when present, alone decides: a malformed or unknown bearer token is refused with 401
// even if a valid cookie comes along, since a client that sends a token means that token. A
// stale or unknown cookie, on the other hand, is what browsers keep sending after a session
// ends, so it just makes the request anonymous (and the cookie is cleared).
func (s *Server) authenticate(c *fiber.Ctx) error {
	if header := c.Get(fiber.HeaderAuthorization); header != "" {
		token, ok := bearerToken(header)
		if !ok {
			return auction.Errorf(auction.CodeUnauthenticated, `the Authorization header must be "Bearer TOKEN" with a token from POST /api/v1/sessions`)
		}
		sess, err := s.sessionByToken(c.UserContext(), token)
		if errors.Is(err, models.ErrNotFound) {
			return auction.Errorf(auction.CodeUnauthenticated, "the bearer token is unknown, expired or signed out")
		}
		if err != nil {
			return err
		}
		c.Locals(identityKey{}, &identity{user: &sess.User, session: sess})
		return c.Next()
	}
	if token := c.Cookies(sessionCookie); token != "" {
		sess, err := s.sessionByToken(c.UserContext(), token)
		switch {
		case errors.Is(err, models.ErrNotFound):
			s.clearSessionCookie(c)
		case err != nil:
			return err
		default:
			c.Locals(identityKey{}, &identity{user: &sess.User, session: sess, viaCookie: true})
		}
	}
	return c.Next()
}

// requireUser lets only signed-in users through, and, for a state-changing request that the
// session cookie alone authenticates, only with the session's CSRF token. The CSRF check lives
// here rather than in authenticate, so that routes that act on nobody's behalf (signing up,
// signing in) are not refused over a cookie they do not use.
func (s *Server) requireUser(c *fiber.Ctx) error {
	if _, err := s.signedIn(c); err != nil {
		return err
	}
	return c.Next()
}

// requireAdmin is requireUser for administrators only: 401 when anonymous, 403 otherwise.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	id, err := s.signedIn(c)
	if err != nil {
		return err
	}
	if !id.user.Admin {
		return auction.Errorf(auction.CodeForbidden, "only administrators may do this")
	}
	return c.Next()
}

func (s *Server) signedIn(c *fiber.Ctx) (*identity, error) {
	id := identityOf(c)
	if id == nil {
		return nil, auction.Errorf(auction.CodeUnauthenticated, "sign in first: send Authorization: Bearer TOKEN or the session cookie")
	}
	if id.viaCookie && changesState(c.Method()) && !validCSRF(c, id.session.CSRFToken) {
		return nil, auction.Errorf(auction.CodeForbidden, "missing or wrong CSRF token: send the csrf_token from signing in in the %s header or the %s form field", csrfHeader, csrfField)
	}
	return id, nil
}

// changesState reports whether a request with this method may change anything; only those
// need the CSRF token.
func changesState(method string) bool {
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		return false
	}
	return true
}

// validCSRF reports whether the request carries want in the X-CSRF-Token header or, for form
// posts, the _csrf field of the body. The query string is deliberately not read: tokens in
// URLs end up in logs and Referer headers.
func validCSRF(c *fiber.Ctx, want string) bool {
	if want == "" {
		return false
	}
	got := c.Get(csrfHeader)
	if got == "" {
		got = csrfFormField(c)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func csrfFormField(c *fiber.Ctx) string {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		return string(c.Request().PostArgs().Peek(csrfField))
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		form, err := c.MultipartForm()
		if err != nil || len(form.Value[csrfField]) == 0 {
			return ""
		}
		return form.Value[csrfField][0]
	}
	return ""
}

// bearerToken extracts the token of an "Authorization: Bearer TOKEN" header. The scheme is
// case-insensitive (RFC 9110); the token must have the shape we issue, so that garbage is
// refused without a database query.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, wellFormedToken(token)
}

// wellFormedToken reports whether token is 32 bytes in unpadded base64url, as newToken makes.
func wellFormedToken(token string) bool {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	return err == nil && len(b) == tokenBytes
}

// newToken returns 32 random bytes in unpadded base64url.
func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashToken is what the database stores of a session token: hex(SHA-256(token)). A fast hash is
// enough because the token has 256 random bits, unlike a password.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// sessionByToken finds the live session of a token; models.ErrNotFound when there is none.
func (s *Server) sessionByToken(ctx context.Context, token string) (*models.Session, error) {
	if !wellFormedToken(token) {
		return nil, models.ErrNotFound
	}
	sess, err := s.store.SessionByTokenHash(ctx, hashToken(token), s.now())
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return nil, models.ErrNotFound
		}
		return nil, fmt.Errorf("find session: %w", err)
	}
	return sess, nil
}

// startSession creates a session for user and returns its token; the database keeps only the
// token's hash.
func (s *Server) startSession(ctx context.Context, user *models.User) (token string, sess *models.Session, err error) {
	token, err = newToken()
	if err != nil {
		return "", nil, err
	}
	csrf, err := newToken()
	if err != nil {
		return "", nil, err
	}
	now := s.now().UTC()
	sess = &models.Session{
		TokenHash: hashToken(token),
		UserID:    user.ID,
		CSRFToken: csrf,
		CreatedAt: now,
		ExpiresAt: now.Add(sessionLifetime),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	sess.User = *user
	return token, sess, nil
}

// setSessionCookie hands a browser its session. HttpOnly keeps scripts from reading the token;
// SameSite=Lax keeps other sites' form posts from carrying it; Secure when the connection is
// (or, by configuration, is fronted by) TLS: overTLS, which believes X-Forwarded-Proto only from
// a trusted proxy.
func (s *Server) setSessionCookie(c *fiber.Ctx, token string, expires time.Time) {
	c.Cookie(&fiber.Cookie{
		Name:     sessionCookie,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(expires.Sub(s.now()).Seconds()),
		Secure:   s.secureCookies(c),
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}

// clearSessionCookie tells the browser to forget its session cookie.
func (s *Server) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		Expires:  time.Unix(0, 0),
		MaxAge:   -1,
		Secure:   s.secureCookies(c),
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
}

func (s *Server) secureCookies(c *fiber.Ctx) bool {
	return s.cfg.SecureCookies || s.overTLS(c)
}

// validateCredentials checks a new account's username and password (PROTOCOL.md §5).
func validateCredentials(username, password string) error {
	if n := len(username); n < minUsernameLen || n > maxUsernameLen || !usernameChars(username) {
		return auction.Errorf(auction.CodeInvalidRequest, "username must be %d to %d characters of letters, digits, '_', '-' and '.'", minUsernameLen, maxUsernameLen)
	}
	if n := len(password); n < minPasswordLen || n > maxPasswordLen {
		return auction.Errorf(auction.CodeInvalidRequest, "password must be %d to %d bytes long", minPasswordLen, maxPasswordLen)
	}
	return nil
}

// usernameChars reports whether s holds only ASCII letters, digits, '_', '-' and '.'. Only ASCII,
// so that names that look alike in other scripts cannot both be taken.
func usernameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// hashPassword hashes a password that validateCredentials accepted.
func (s *Server) hashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// checkPassword looks username up and checks password against it. An unknown user costs a
// bcrypt comparison too, so that response times do not reveal which names exist. Every failure
// is the same 401. Sign-in routes call it through login (throttle.go), never directly.
func (s *Server) checkPassword(ctx context.Context, username, password string) (*models.User, error) {
	badCredentials := auction.Errorf(auction.CodeUnauthenticated, "wrong username or password")
	// bcrypt cannot check more than 72 bytes, and no account has a longer password; compare
	// a prefix against the dummy hash anyway to keep the timing uniform.
	tooLong := len(password) > maxPasswordLen
	var user *models.User
	if !tooLong && len(username) <= maxUsernameLen && usernameChars(username) {
		u, err := s.store.UserByUsername(ctx, username)
		switch {
		case errors.Is(err, models.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("find user: %w", err)
		default:
			user = u
		}
	}
	if user == nil {
		_ = s.comparePassword(s.dummyHash, []byte(password[:min(len(password), maxPasswordLen)]))
		return nil, badCredentials
	}
	if s.comparePassword([]byte(user.PasswordHash), []byte(password)) != nil {
		return nil, badCredentials
	}
	return user, nil
}

// EnsureAdmin makes sure an administrator account named username exists with this password,
// creating it or updating it; main calls it at start with ADMIN_USERNAME and ADMIN_PASSWORD.
// The same username and password rules as for signing up apply.
func (s *Server) EnsureAdmin(ctx context.Context, username, password string) error {
	if err := validateCredentials(username, password); err != nil {
		return fmt.Errorf("admin account: %s", auction.ErrorMessage(err))
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	if _, err := s.store.EnsureAdmin(ctx, username, hash); err != nil {
		return fmt.Errorf("ensure admin account %q: %w", username, err)
	}
	return nil
}
