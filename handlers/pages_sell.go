package handlers

import (
	"errors"
	"fmt"
	"maps"
	"mime/multipart"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"

	"auctionhouse/auction"
)

// The seller's form: GET /auctions/new shows it, POST /auctions creates the auction.
//
// Times come from <input type="datetime-local">, which sends a wall-clock time without a zone
// ("2026-11-24T20:15"). The server cannot know the browser's zone, so such times are read as
// UTC, unless the form also carries tz_offset_minutes: static/js/form.js fills it with the
// browser's Date.getTimezoneOffset() (minutes to add to local time to get UTC, e.g. -60 in
// Paris in winter). Without JavaScript the form says that times are UTC. Full RFC 3339 times
// (with a zone) are accepted too, for scripts posting the form.

// sellForm is the content of templates/sell.html: every value as typed, so that a form with
// errors comes back as the seller left it, and a message per invalid field, keyed like the
// JSON API's fields ("title", "starting_price", …, and "photos").
type sellForm struct {
	Title, Description                       string
	StartingPrice, ReservePrice, BuyNowPrice string
	StartsAt, EndsAt, ExtensionSeconds       string
	Errors                                   map[string]string
	// HadPhotos: the failed post carried photos, which a browser never refills; the form asks
	// to choose them again.
	HadPhotos bool
	// MaxPhotos and MaxPhotoSize describe the photo limits.
	MaxPhotos    int
	MaxPhotoSize string
}

// sellPage shows the empty seller's form: GET /auctions/new. Only signed-in users sell.
func (s *Server) sellPage(c *fiber.Ctx) error {
	if identityOf(c) == nil {
		return loginRedirect(c, "/auctions/new")
	}
	return s.renderSell(c, fiber.StatusOK, sellForm{ExtensionSeconds: strconv.Itoa(auction.DefaultExtensionSeconds)})
}

func (s *Server) renderSell(c *fiber.Ctx, status int, f sellForm) error {
	f.MaxPhotos = s.cfg.MaxPhotos
	f.MaxPhotoSize = byteSize(s.cfg.MaxPhotoBytes)
	return s.render(c, status, "sell", page{
		Title:   "Sell an item",
		Nav:     "sell",
		Scripts: []string{"/static/js/form.js"},
		Data:    f,
	})
}

// sellSubmit creates an auction from the seller's form: POST /auctions (multipart, for the
// photos). Every field and every photo is checked before anything is stored; with any error
// the form comes back (422) with a message next to each bad field and nothing is created.
func (s *Server) sellSubmit(c *fiber.Ctx) error {
	id, err := formUser(c)
	if errors.Is(err, errFormSignIn) {
		return loginRedirect(c, "/auctions/new")
	}
	if err != nil {
		return err
	}
	f := sellForm{
		Title:            postField(c, "title"),
		Description:      postField(c, "description"),
		StartingPrice:    postField(c, "starting_price"),
		ReservePrice:     postField(c, "reserve_price"),
		BuyNowPrice:      postField(c, "buy_now_price"),
		StartsAt:         postField(c, "starts_at"),
		EndsAt:           postField(c, "ends_at"),
		ExtensionSeconds: postField(c, "extension_seconds"),
	}
	in, errs := s.sellInput(f, tzOffset(postField(c, "tz_offset_minutes")))

	var files []*multipart.FileHeader
	if form, err := c.MultipartForm(); err == nil {
		files = form.File["photos"]
	}
	uploads, photoErr := s.readPhotos(files)
	if photoErr != "" {
		errs["photos"] = photoErr
	}
	if len(errs) > 0 {
		f.Errors = errs
		f.HadPhotos = len(uploads) > 0 || photoErr != ""
		return s.renderSell(c, fiber.StatusUnprocessableEntity, f)
	}

	rows, err := s.savePhotos(uploads)
	if err != nil {
		return err
	}
	view, err := s.engine.CreateAuction(c.UserContext(), userRef(id.user), in)
	if err != nil {
		s.removePhotos(rows)
		// The engine's clock is later than the check above: an end that was a moment in the
		// future may have passed. Show it like any other field error.
		var verr *auction.ValidationError
		if errors.As(err, &verr) {
			f.Errors = fieldMessages(verr)
			f.HadPhotos = len(uploads) > 0
			return s.renderSell(c, fiber.StatusUnprocessableEntity, f)
		}
		return err
	}
	for i := range rows {
		rows[i].AuctionID = view.ID
	}
	if err := s.store.CreatePhotos(c.UserContext(), rows); err != nil {
		// The auction exists (the engine stored it in its own transaction); it stays, without
		// photos, rather than vanish after the seller was told nothing.
		s.removePhotos(rows)
		return fmt.Errorf("store the photos of auction %d: %w", view.ID, err)
	}
	return redirect(c, auctionURL(view.ID, ""))
}

// sellInput is sellFormInput on the server's clock.
func (s *Server) sellInput(f sellForm, offset *time.Duration) (auction.NewAuctionInput, map[string]string) {
	return sellFormInput(f, offset, s.now())
}

// sellFormInput turns the form's text into the engine's input, with a message per bad field.
// Fields that cannot be read are reported together with the engine's own checks of the others
// (judged at now), as the JSON API does (see newAuctionRequest.input). It is pure, for
// FuzzNewAuctionForm.
func sellFormInput(f sellForm, offset *time.Duration, now time.Time) (auction.NewAuctionInput, map[string]string) {
	in := auction.NewAuctionInput{Title: f.Title, Description: f.Description}
	bad := map[string]*auction.Error{}
	note := func(field, msg string) {
		bad[field] = auction.Errorf(auction.CodeInvalidRequest, "%s", msg)
	}
	const amountHelp = "Enter an amount like 12.50: more than 0, with at most two decimals."

	if raw := strings.TrimSpace(f.StartingPrice); raw == "" {
		note("starting_price", "Enter a starting price.")
	} else if d, err := auction.ParseAmount(raw); err != nil {
		note("starting_price", amountHelp)
	} else {
		in.StartingPrice = d
	}
	optional := func(field, raw string) decimal.NullDecimal {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return decimal.NullDecimal{}
		}
		d, err := auction.ParseAmount(raw)
		if err != nil {
			note(field, amountHelp+" Or leave it empty.")
			return decimal.NullDecimal{}
		}
		return decimal.NewNullDecimal(d)
	}
	in.ReservePrice = optional("reserve_price", f.ReservePrice)
	in.BuyNowPrice = optional("buy_now_price", f.BuyNowPrice)

	if raw := strings.TrimSpace(f.StartsAt); raw != "" {
		if t, ok := parseFormTime(raw, offset); ok {
			in.StartsAt = &t
		} else {
			note("starts_at", "Enter a date and time, or leave it empty to start now.")
		}
	}
	if raw := strings.TrimSpace(f.EndsAt); raw != "" {
		if t, ok := parseFormTime(raw, offset); ok {
			in.EndsAt = t
		} else {
			note("ends_at", "Enter a date and time.")
		}
	} // empty: Validate says "Enter an end time."

	if raw := strings.TrimSpace(f.ExtensionSeconds); raw != "" {
		if n, err := strconv.Atoi(raw); err == nil && isDigits(raw) {
			in.ExtensionSeconds = &n
		} else {
			note("extension_seconds", fmt.Sprintf("Enter a whole number of seconds from 0 to %d; 0 turns soft close off.", auction.MaxExtensionSeconds))
		}
	}

	// Only the fields that failed to parse may silence the engine's complaints (see
	// dependsOnBad), so judge against them, not against the map being filled.
	unreadable := maps.Clone(bad)
	var verr *auction.ValidationError
	if _, err := in.Validate(now); errors.As(err, &verr) {
		for field, e := range verr.Fields {
			if _, seen := unreadable[field]; !seen && !dependsOnBad(field, unreadable) {
				bad[field] = e
			}
		}
	}
	return in, fieldMessages(&auction.ValidationError{Fields: bad})
}

// fieldMessages is the message of each field of a validation error.
func fieldMessages(verr *auction.ValidationError) map[string]string {
	out := make(map[string]string, len(verr.Fields))
	for field, e := range verr.Fields {
		out[field] = e.Message
	}
	return out
}

// maxTZOffset bounds tz_offset_minutes: real zones lie between UTC-12 and UTC+14.
const maxTZOffset = 14 * time.Hour

// tzOffset reads tz_offset_minutes (see the top of this file); nil when absent or not a
// plausible offset, which makes form times UTC.
func tzOffset(raw string) *time.Duration {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	n, err := strconv.Atoi(raw)
	// The range is checked on the minutes, before they become a Duration: a huge count would
	// overflow it and could wrap around into the plausible range (FuzzNewAuctionForm).
	if err != nil || n < -int(maxTZOffset/time.Minute) || n > int(maxTZOffset/time.Minute) {
		return nil
	}
	d := time.Duration(n) * time.Minute
	return &d
}

// parseFormTime reads a datetime-local value (with or without seconds), as UTC shifted by
// offset when there is one, or a full RFC 3339 time.
func parseFormTime(raw string, offset *time.Duration) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, raw, time.UTC); err == nil {
			if offset != nil {
				t = t.Add(*offset)
			}
			return t, true
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return t, true
	}
	return time.Time{}, false
}
