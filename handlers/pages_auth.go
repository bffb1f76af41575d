package handlers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// authForm is the content of the signup and login pages (templates/signup.html, login.html).
type authForm struct {
	// Username is kept across a failed attempt; the password never is.
	Username string
	// Next is where to go after signing in: a local path, or "" for the home page.
	Next string
	// Errors holds a message per field ("username", "password"); Error one for the form.
	Errors map[string]string
	Error  string
}

// signupPage shows the form for a new account: GET /signup.
func (s *Server) signupPage(c *fiber.Ctx) error {
	return s.renderSignup(c, fiber.StatusOK, authForm{Next: localPath(c.Query("next"))})
}

func (s *Server) renderSignup(c *fiber.Ctx, status int, f authForm) error {
	return s.render(c, status, "signup", page{Title: "Sign up", Nav: "signup", Data: f})
}

// loginPage shows the sign-in form: GET /login.
func (s *Server) loginPage(c *fiber.Ctx) error {
	return s.renderLogin(c, fiber.StatusOK, authForm{Next: localPath(c.Query("next"))})
}

func (s *Server) renderLogin(c *fiber.Ctx, status int, f authForm) error {
	return s.render(c, status, "login", page{Title: "Log in", Nav: "login", Data: f})
}

// credentialsFromForm reads the username and password of the signup and login forms. Spaces
// around the username are dropped (easily typed, never part of a name); the password is taken
// as typed.
func credentialsFromForm(c *fiber.Ctx) (username, password, next string) {
	return strings.TrimSpace(postField(c, "username")), postField(c, "password"), localPath(postField(c, "next"))
}

// signupSubmit creates an account and signs it in: POST /signup. Over the per-address signup
// limit (createAccount), the form comes back with 429.
func (s *Server) signupSubmit(c *fiber.Ctx) error {
	if !validSignedOutForm(c) {
		return errFormCSRF
	}
	username, password, next := credentialsFromForm(c)
	f := authForm{Username: username, Next: next, Errors: credentialErrors(username, password)}
	if len(f.Errors) > 0 {
		return s.renderSignup(c, fiber.StatusUnprocessableEntity, f)
	}
	user, err := s.createAccount(c, username, password)
	if isDuplicate(err) {
		f.Errors = map[string]string{"username": "That username is taken. Choose another one."}
		return s.renderSignup(c, fiber.StatusConflict, f)
	}
	if le := (*limitedError)(nil); errors.As(err, &le) {
		f.Error = "Too many new accounts were made from your address. Try again in " + humanWait(le.retryAfter) + "."
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds(le.retryAfter))
		return s.renderSignup(c, fiber.StatusTooManyRequests, f)
	}
	if err != nil {
		return err
	}
	return s.signInAndGo(c, user, next)
}

// credentialErrors checks a new account by the rules of validateCredentials, with a message per
// field for the form.
func credentialErrors(username, password string) map[string]string {
	errs := map[string]string{}
	if n := len(username); n < minUsernameLen || n > maxUsernameLen || !usernameChars(username) {
		errs["username"] = fmt.Sprintf("Use %d to %d letters, digits, '_', '-' or '.'.", minUsernameLen, maxUsernameLen)
	}
	if n := len(password); n < minPasswordLen || n > maxPasswordLen {
		errs["password"] = fmt.Sprintf("Use %d to %d characters.", minPasswordLen, maxPasswordLen)
	}
	return errs
}

// loginSubmit signs a user in: POST /login. Throttled (login), the form comes back with 429.
func (s *Server) loginSubmit(c *fiber.Ctx) error {
	if !validSignedOutForm(c) {
		return errFormCSRF
	}
	username, password, next := credentialsFromForm(c)
	f := authForm{Username: username, Next: next}
	if username == "" || password == "" {
		f.Error = "Enter your username and password."
		return s.renderLogin(c, fiber.StatusUnprocessableEntity, f)
	}
	user, err := s.login(c, username, password)
	if le := (*limitedError)(nil); errors.As(err, &le) {
		f.Error = "Too many failed attempts. Try again in " + humanWait(le.retryAfter) + "."
		c.Set(fiber.HeaderRetryAfter, retryAfterSeconds(le.retryAfter))
		return s.renderLogin(c, fiber.StatusTooManyRequests, f)
	}
	if auction.ErrorCode(err) == auction.CodeUnauthenticated {
		f.Error = "Wrong username or password."
		return s.renderLogin(c, fiber.StatusUnauthorized, f)
	}
	if err != nil {
		return err
	}
	return s.signInAndGo(c, user, next)
}

// signInAndGo starts a session for user, hands the browser its cookie and sends it on to next
// (a local path already checked by localPath), or home. A session the browser had before ends:
// its cookie is about to be replaced, and a session nobody holds should not stay valid.
func (s *Server) signInAndGo(c *fiber.Ctx, user *models.User, next string) error {
	if old := identityOf(c); old != nil && old.viaCookie {
		if err := s.store.DeleteSession(c.UserContext(), old.session.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("end the previous session: %w", err)
		}
		if s.onLogout != nil {
			s.onLogout(old.session.ID)
		}
	}
	token, sess, err := s.startSession(c.UserContext(), user)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, token, sess.ExpiresAt)
	if next == "" {
		next = "/"
	}
	return redirect(c, next)
}

// logoutPage offers a button to sign out: GET /logout. Signing out changes state, so a GET
// (which links, prefetchers and crawlers make freely) only shows the form.
func (s *Server) logoutPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "logout", page{Title: "Log out"})
}

// logoutSubmit signs the session out, as DELETE /api/v1/sessions/current does: POST /logout.
// Nobody signed in: there is nothing to do, and the visitor goes home.
func (s *Server) logoutSubmit(c *fiber.Ctx) error {
	id := identityOf(c)
	if id == nil {
		return redirect(c, "/")
	}
	if id.viaCookie && !validCSRF(c, id.session.CSRFToken) {
		return errFormCSRF
	}
	if err := s.store.DeleteSession(c.UserContext(), id.session.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("delete session: %w", err)
	}
	if s.onLogout != nil {
		s.onLogout(id.session.ID)
	}
	s.clearSessionCookie(c)
	return redirect(c, "/")
}

// postField reads a field of a form post's body (url-encoded or multipart), never the query
// string, which Fiber's FormValue would prefer: a field in the URL could otherwise override the
// form, and would end up in logs.
func postField(c *fiber.Ctx, name string) string {
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	switch {
	case strings.HasPrefix(ct, fiber.MIMEApplicationForm):
		return string(c.Request().PostArgs().Peek(name))
	case strings.HasPrefix(ct, fiber.MIMEMultipartForm):
		form, err := c.MultipartForm()
		if err != nil || len(form.Value[name]) == 0 {
			return ""
		}
		return form.Value[name][0]
	}
	return ""
}
