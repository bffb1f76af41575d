package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// healthTimeout bounds the database check of /healthz, so that a hung database makes the check
// fail rather than hang the prober.
const healthTimeout = 2 * time.Second

// health answers GET /healthz: 200 when the database answers in time, else 503.
func (s *Server) health(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), healthTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("health check: database does not answer", "request_id", requestID(c), "err", err)
		return auction.Errorf(auction.CodeUnavailable, "the database does not answer")
	}
	return c.JSON(fiber.Map{"status": "ok"})
}
