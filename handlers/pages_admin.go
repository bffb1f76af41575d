package handlers

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"auctionhouse/auction"
)

// adminPageSize is how many auctions one page of /admin lists.
const adminPageSize = 50

// errAdminOnly refuses a signed-in user who is not an administrator.
var errAdminOnly = auction.Errorf(auction.CodeForbidden, "This page is for administrators only.")

// adminData is the content of templates/admin.html.
type adminData struct {
	Auctions []auctionCard
	Flash    *flash
	// Page is the current page number; PrevPage and NextPage its neighbours, 0 when none.
	Page, PrevPage, NextPage int
}

// adminMessages are the outcomes of the close and cancel buttons, by the code in ?msg=; %d is
// the auction's id from ?id=.
var adminMessages = map[string]flash{
	"closed":    {"ok", "Auction #%d is closed."},
	"cancelled": {"ok", "Auction #%d is cancelled."},
	"conflict":  {"error", "Auction #%d was already closed or cancelled; nothing changed."},
	"not_found": {"error", "There is no auction #%d."},
}

// adminUser lets administrators through: an anonymous visitor is sent to log in (ok false, the
// redirect already answered), anyone else gets 403.
func adminUser(c *fiber.Ctx) (ok bool, err error) {
	id := identityOf(c)
	if id == nil {
		return false, loginRedirect(c, "/admin")
	}
	if !id.user.Admin {
		return false, errAdminOnly
	}
	return true, nil
}

// adminPage lists every auction, newest first, with buttons to close or cancel the ones still
// running: GET /admin?page=N.
func (s *Server) adminPage(c *fiber.Ctx) error {
	if ok, err := adminUser(c); !ok {
		return err
	}
	pageNo, err := queryInt(c, "page", 1)
	if err != nil || pageNo < 1 {
		pageNo = 1
	}
	views, err := s.engine.List(c.UserContext(), auction.ListOptions{
		Limit:  adminPageSize + 1,
		Offset: (pageNo - 1) * adminPageSize,
	})
	if err != nil {
		return err
	}
	data := adminData{Page: pageNo}
	if len(views) > adminPageSize {
		views = views[:adminPageSize]
		data.NextPage = pageNo + 1
	}
	if pageNo > 1 {
		data.PrevPage = pageNo - 1
	}
	data.Auctions = make([]auctionCard, len(views))
	for i, v := range views {
		data.Auctions[i] = newAuctionCard(v, "")
	}
	if f, ok := adminMessages[c.Query("msg")]; ok {
		if id, err := strconv.ParseInt(c.Query("id"), 10, 64); err == nil && id > 0 {
			f.Text = fmt.Sprintf(f.Text, id)
			data.Flash = &f
		}
	}
	return s.render(c, fiber.StatusOK, "admin", page{Title: "Admin", Nav: "admin", Data: data})
}

// adminCloseSubmit closes an auction now: POST /admin/auctions/{id}/close.
func (s *Server) adminCloseSubmit(c *fiber.Ctx) error {
	return s.adminAct(c, "closed", s.engine.Close)
}

// adminCancelSubmit cancels an auction: POST /admin/auctions/{id}/cancel.
func (s *Server) adminCancelSubmit(c *fiber.Ctx) error {
	return s.adminAct(c, "cancelled", s.engine.Cancel)
}

// adminAct runs an admin's button and sends the browser back to the page of /admin it came
// from, with the outcome.
func (s *Server) adminAct(c *fiber.Ctx, done string, act func(ctx context.Context, id int64) (auction.View, error)) error {
	if ok, err := adminUser(c); !ok {
		return err
	}
	if _, err := formUser(c); err != nil {
		return err
	}
	auctionID, err := auctionIDParam(c)
	if err != nil {
		return err
	}
	msg := done
	if _, err := act(c.UserContext(), auctionID); err != nil {
		switch auction.ErrorCode(err) {
		case auction.CodeConflict:
			msg = "conflict"
		case auction.CodeNotFound:
			msg = "not_found"
		default:
			return err
		}
	}
	back := "/admin?msg=" + msg + "&id=" + strconv.FormatInt(auctionID, 10)
	if p := postField(c, "page"); isDigits(p) && p != "1" && len(p) < 10 {
		back += "&page=" + p
	}
	return redirect(c, back)
}
