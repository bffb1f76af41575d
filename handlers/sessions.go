package handlers

import (
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
	"auctionhouse/models"
)

// sessionUser is the signed-in user as the login answer shows it.
type sessionUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Admin    bool   `json:"admin"`
}

// sessionResponse answers a login: the bearer token for scripts, and the CSRF token that
// browsers, which use the cookie instead, must send with state-changing requests.
type sessionResponse struct {
	Token     string      `json:"token"`
	User      sessionUser `json:"user"`
	CSRFToken string      `json:"csrf_token"`
	ExpiresAt string      `json:"expires_at"`
}

// createSession signs a user in: POST /api/v1/sessions. It answers with a token and also sets
// the session cookie, so that the same call serves scripts and browsers. Too many failures from
// one address are refused with 429 rate_limited and Retry-After (login).
func (s *Server) createSession(c *fiber.Ctx) error {
	var req credentialsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	user, err := s.login(c, req.Username, req.Password)
	if err != nil {
		return err
	}
	token, sess, err := s.startSession(c.UserContext(), user)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, token, sess.ExpiresAt)
	return c.Status(fiber.StatusCreated).JSON(sessionResponse{
		Token:     token,
		User:      sessionUser{ID: user.ID, Username: user.Username, Admin: user.Admin},
		CSRFToken: sess.CSRFToken,
		ExpiresAt: auction.FormatTime(sess.ExpiresAt),
	})
}

// deleteSession signs the current session out: DELETE /api/v1/sessions/current. Its token stops
// working at once, and the live layer, if any, closes its sockets.
func (s *Server) deleteSession(c *fiber.Ctx) error {
	sess := identityOf(c).session
	// Already gone (a concurrent logout, or expiry) is the outcome asked for.
	if err := s.store.DeleteSession(c.UserContext(), sess.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("delete session: %w", err)
	}
	if s.onLogout != nil {
		s.onLogout(sess.ID)
	}
	s.clearSessionCookie(c)
	return c.SendStatus(fiber.StatusNoContent)
}
