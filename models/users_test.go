package models_test

import (
	"context"
	"errors"
	"testing"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

func TestUsernamesAreUniqueRegardlessOfCase(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		alice := mustUser(t, s, "Alice")
		if alice.ID == 0 || alice.CreatedAt.IsZero() {
			t.Fatalf("CreateUser did not fill ID/CreatedAt: %+v", alice)
		}
		tests := []struct {
			name    string
			create  string
			wantErr error
		}{
			{"same case", "Alice", models.ErrDuplicate},
			{"lower case", "alice", models.ErrDuplicate},
			{"upper case", "ALICE", models.ErrDuplicate},
			{"other name", "alicia", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := s.CreateUser(ctx, &models.User{Username: tt.create, PasswordHash: "h"})
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("CreateUser(%q) = %v, want %v", tt.create, err, tt.wantErr)
				}
			})
		}

		for _, name := range []string{"Alice", "alice", "aLiCe"} {
			got, err := s.UserByUsername(ctx, name)
			if err != nil {
				t.Fatalf("UserByUsername(%q): %v", name, err)
			}
			if got.ID != alice.ID || got.Username != "Alice" {
				t.Errorf("UserByUsername(%q) = %+v, want Alice (id %d) with her original case", name, got, alice.ID)
			}
		}
		if _, err := s.UserByUsername(ctx, "bob"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("UserByUsername(bob) = %v, want ErrNotFound", err)
		}
		got, err := s.UserByID(ctx, alice.ID)
		if err != nil || got.Username != "Alice" || got.PasswordHash != "hash-Alice" {
			t.Errorf("UserByID = %+v, %v", got, err)
		}
		if _, err := s.UserByID(ctx, alice.ID+1000); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("UserByID(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestEnsureAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		existing := mustUser(t, s, "Root")
		tests := []struct {
			name, username, hash string
			wantID               int64 // 0: a new user
			wantName             string
		}{
			{"creates a missing admin", "boss", "h1", 0, "boss"},
			{"is idempotent", "boss", "h2", -1, "boss"},
			{"promotes an existing user in another case", "root", "h3", existing.ID, "Root"},
		}
		var bossID int64
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, err := s.EnsureAdmin(ctx, tt.username, tt.hash)
				if err != nil {
					t.Fatalf("EnsureAdmin: %v", err)
				}
				switch tt.wantID {
				case 0:
					bossID = u.ID
				case -1:
					if u.ID != bossID {
						t.Errorf("id = %d, want the same account %d", u.ID, bossID)
					}
				default:
					if u.ID != tt.wantID {
						t.Errorf("id = %d, want %d", u.ID, tt.wantID)
					}
				}
				stored, err := s.UserByID(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !stored.Admin || stored.PasswordHash != tt.hash || stored.Username != tt.wantName {
					t.Errorf("stored %+v, want admin %s with hash %s", stored, tt.wantName, tt.hash)
				}
				if u.Username != stored.Username || u.Admin != stored.Admin || u.PasswordHash != stored.PasswordHash ||
					!u.CreatedAt.Equal(stored.CreatedAt) {
					t.Errorf("returned %+v, stored %+v", u, stored)
				}
			})
		}
	})
}
