package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/models"
)

// base is a fixed instant far from the test run's clock, so that "now" never matters by accident.
var base = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func dec(t testing.TB, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

func nullDec(t testing.TB, s string) decimal.NullDecimal {
	return decimal.NewNullDecimal(dec(t, s))
}

func ptr[T any](v T) *T { return &v }

func mustUser(t testing.TB, s *models.Store, name string) *models.User {
	t.Helper()
	u := &models.User{Username: name, PasswordHash: "hash-" + name}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

// mustAuction creates an open auction by seller from base to base+1h, adjusted by mod.
func mustAuction(t testing.TB, s *models.Store, seller *models.User, mod func(a *models.Auction)) *models.Auction {
	t.Helper()
	a := &models.Auction{
		SellerID:         seller.ID,
		Title:            "lamp",
		Description:      "a lamp",
		StartingPrice:    dec(t, "10.00"),
		StartsAt:         base,
		EndsAt:           base.Add(time.Hour),
		ExtensionSeconds: 120,
		Status:           models.StatusOpen,
	}
	if mod != nil {
		mod(a)
	}
	if err := s.CreateAuction(context.Background(), a); err != nil {
		t.Fatalf("create auction: %v", err)
	}
	return a
}
