package models_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

func TestMoneyRoundTripsExactly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := mustUser(t, s, "seller")
		bidder := mustUser(t, s, "bidder")
		for _, v := range []string{"999999999999.99", "0.05", "12.50", "0.01", "1", "100.10", "123456789.87"} {
			t.Run(v, func(t *testing.T) {
				want := dec(t, v)
				a := mustAuction(t, s, seller, func(a *models.Auction) {
					a.StartingPrice = want
					a.ReservePrice = decimal.NewNullDecimal(want)
					a.BuyNowPrice = decimal.NewNullDecimal(want)
				})
				a.CurrentPrice = decimal.NewNullDecimal(want)
				a.LeaderMax = decimal.NewNullDecimal(want)
				a.HighBidderID = &bidder.ID
				a.BidCount = 1
				a.Seq = 1
				bids := []models.Bid{{BidderID: bidder.ID, Amount: want, MaxAmount: want, Leading: true, Seq: 1}}
				if err := s.CommitBatch(ctx, a, 0, bids); err != nil {
					t.Fatalf("CommitBatch: %v", err)
				}

				got, err := s.AuctionByID(ctx, a.ID)
				if err != nil {
					t.Fatalf("AuctionByID: %v", err)
				}
				stored, err := s.AllBids(ctx, a.ID)
				if err != nil || len(stored) != 1 {
					t.Fatalf("AllBids = %v, %v", stored, err)
				}
				for name, d := range map[string]decimal.Decimal{
					"starting_price": got.StartingPrice,
					"reserve_price":  got.ReservePrice.Decimal,
					"buy_now_price":  got.BuyNowPrice.Decimal,
					"current_price":  got.CurrentPrice.Decimal,
					"leader_max":     got.LeaderMax.Decimal,
					"amount":         stored[0].Amount,
					"max_amount":     stored[0].MaxAmount,
				} {
					if !d.Equal(want) || d.StringFixed(2) != want.StringFixed(2) {
						t.Errorf("%s = %s, want %s", name, d.String(), want.StringFixed(2))
					}
				}
			})
		}
		if s.Dialect() == models.DialectSQLite {
			// The database itself must hold text, never a float.
			var types []string
			err := s.DB().Raw(`SELECT DISTINCT typeof(starting_price) FROM auctions
				UNION SELECT DISTINCT typeof(amount) FROM bids
				UNION SELECT DISTINCT typeof(current_price) FROM auctions`).Scan(&types).Error
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(types, []string{"text"}) {
				t.Errorf("money stored as %v, want only text", types)
			}
		}
	})
}

func TestTimesAreUTCAndCompareCorrectly(t *testing.T) {
	// Whole seconds and fractions interleave on purpose: on SQLite times are texts, and
	// "…:00+00:00" versus "…:00.5+00:00" is exactly where a careless format sorts wrongly.
	offsets := []time.Duration{
		-time.Millisecond, 0, time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond,
		500 * time.Millisecond, 999 * time.Millisecond, time.Second, time.Second + 250*time.Millisecond,
		2 * time.Second, 10 * time.Second, 59*time.Second + 999*time.Millisecond, time.Minute,
	}
	// Inputs are written in another zone and with sub-millisecond noise; the store must
	// normalise both.
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller := mustUser(t, s, "seller")
		endsOf := map[int64]time.Time{}
		for _, off := range offsets {
			ends := base.Add(off)
			a := mustAuction(t, s, seller, func(a *models.Auction) {
				a.StartsAt = base.Add(-time.Hour).In(zone)
				a.EndsAt = ends.Add(400 * time.Microsecond).In(zone)
			})
			if a.EndsAt.Location() != time.UTC || !a.EndsAt.Equal(ends) {
				t.Fatalf("CreateAuction left EndsAt = %v, want %v in UTC", a.EndsAt, ends)
			}
			endsOf[a.ID] = ends
		}
		for id, ends := range endsOf {
			got, err := s.AuctionByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for name, tm := range map[string]time.Time{"ends_at": got.EndsAt, "starts_at": got.StartsAt, "created_at": got.CreatedAt} {
				if tm.Location() != time.UTC {
					t.Errorf("%s location = %v, want UTC", name, tm.Location())
				}
			}
			if !got.EndsAt.Equal(ends) {
				t.Errorf("auction %d ends_at = %v, want %v", id, got.EndsAt, ends)
			}
		}
		// Every cut-off, just before, at and just after each end, must select exactly the
		// auctions ending at or before it.
		for _, off := range offsets {
			for _, delta := range []time.Duration{-time.Millisecond, -500 * time.Microsecond, 0, 500 * time.Microsecond, time.Millisecond} {
				now := base.Add(off + delta)
				var want []int64
				for id, ends := range endsOf {
					if !ends.After(now) {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				got, err := s.DueAuctionIDs(ctx, now.In(zone))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("DueAuctionIDs(%s) = %v, want %v", now.Format(time.RFC3339Nano), got, want)
				}
			}
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "keeper")
		for i := range 2 {
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate #%d: %v", i+2, err)
			}
		}
		var n int64
		if err := s.DB().Table("schema_migrations").Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		// One row per migration in migrations.go: 0001_initial, 0002_photos_and_account_indexes
		// and 0003_auction_watchers.
		if n != 3 {
			t.Errorf("schema_migrations has %d rows, want 3", n)
		}
		if _, err := s.UserByID(ctx, u.ID); err != nil {
			t.Errorf("data lost by re-migrating: %v", err)
		}
	})
}

func TestSQLitePragmas(t *testing.T) {
	s := dbtest.SQLite(t)
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "busy_timeout": "10000",
	} {
		var got string
		if err := s.DB().Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	// Foreign keys are enforced, not merely declared.
	err := s.CreateSession(context.Background(), &models.Session{TokenHash: "x", UserID: 999, ExpiresAt: base})
	if err == nil {
		t.Error("session for a missing user was accepted")
	}
}

func TestOpenFailsWithOneClearLine(t *testing.T) {
	tests := []struct {
		name     string
		cfg      models.Config
		wantPart string
	}{
		{
			name:     "postgres refused",
			cfg:      models.Config{DatabaseURL: "postgres://bob:s3cretPW@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"},
			wantPart: "cannot reach database at 127.0.0.1:1: ",
		},
		{
			name:     "postgres bad url",
			cfg:      models.Config{DatabaseURL: "postgres://bob:s3cretPW@127.0.0.1:notaport/db"},
			wantPart: "invalid DATABASE_URL: ",
		},
		{
			name:     "sqlite missing directory",
			cfg:      models.Config{SQLitePath: filepath.Join(t.TempDir(), "no", "such", "dir", "a.db")},
			wantPart: "cannot open SQLite database at ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := models.Open(ctx, tt.cfg, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantPart) {
				t.Errorf("error %q does not start with %q", msg, tt.wantPart)
			}
			if strings.Contains(msg, "s3cretPW") {
				t.Errorf("error %q leaks the password", msg)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q is not one line", msg)
			}
			if errors.Unwrap(err) == nil {
				t.Errorf("error %q does not wrap the cause", msg)
			}
		})
	}
}
