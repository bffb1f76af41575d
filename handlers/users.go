package handlers

import (
	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// credentialsRequest is the body of signing up and signing in.
type credentialsRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// userResponse is a new account as POST /api/v1/users answers it.
type userResponse struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// createUser signs a new user up: POST /api/v1/users. Signups are limited per address
// (createAccount): 429 rate_limited with Retry-After.
func (s *Server) createUser(c *fiber.Ctx) error {
	var req credentialsRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if err := validateCredentials(req.Username, req.Password); err != nil {
		return err
	}
	user, err := s.createAccount(c, req.Username, req.Password)
	if isDuplicate(err) {
		return auction.Errorf(auction.CodeConflict, "the username %q is taken", req.Username)
	}
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(userResponse{ID: user.ID, Username: user.Username})
}
