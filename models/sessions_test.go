package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

func TestSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		u := mustUser(t, s, "Carol")
		expires := base.Add(time.Hour + 250*time.Millisecond)
		sess := &models.Session{TokenHash: "th1", UserID: u.ID, CSRFToken: "csrf1", ExpiresAt: expires}
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		if sess.ID == 0 {
			t.Fatal("CreateSession did not fill ID")
		}
		if err := s.CreateSession(ctx, &models.Session{TokenHash: "th1", UserID: u.ID, ExpiresAt: expires}); !errors.Is(err, models.ErrDuplicate) {
			t.Errorf("second session with the same token hash: %v, want ErrDuplicate", err)
		}

		tests := []struct {
			name    string
			hash    string
			now     time.Time
			wantErr error
		}{
			{"valid", "th1", base, nil},
			{"a millisecond before expiry", "th1", expires.Add(-time.Millisecond), nil},
			{"at expiry", "th1", expires, models.ErrNotFound},
			{"after expiry", "th1", expires.Add(time.Second), models.ErrNotFound},
			{"unknown token", "nope", base, models.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.SessionByTokenHash(ctx, tt.hash, tt.now)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("SessionByTokenHash = %v, want %v", err, tt.wantErr)
				}
				if err != nil {
					if got != nil {
						t.Errorf("non-nil session with an error")
					}
					return
				}
				if got.ID != sess.ID || got.CSRFToken != "csrf1" || !got.ExpiresAt.Equal(expires) {
					t.Errorf("session = %+v", got)
				}
				if got.User.ID != u.ID || got.User.Username != "Carol" {
					t.Errorf("User not loaded: %+v", got.User)
				}
			})
		}

		if err := s.DeleteSession(ctx, sess.ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		if _, err := s.SessionByTokenHash(ctx, "th1", base); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("deleted session still found: %v", err)
		}
		if err := s.DeleteSession(ctx, sess.ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("second DeleteSession = %v, want ErrNotFound", err)
		}
	})
}
