// Package dbtest gives tests fresh, migrated Stores on both databases, so that every test can
// prove its behaviour on SQLite and on PostgreSQL alike. Each Store is private to its test (its
// own SQLite file, or its own PostgreSQL schema), so tests may run in parallel.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"auctionhouse/models"
)

// EnvPostgresURL names the environment variable with the PostgreSQL server for tests, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Unset, PostgreSQL tests are skipped.
const EnvPostgresURL = "TEST_DATABASE_URL"

// setupTimeout bounds connecting, creating the schema and migrating, so that a hung server
// fails the test instead of hanging it until the global test timeout.
const setupTimeout = 30 * time.Second

// testMaxOpenConns keeps many parallel tests within PostgreSQL's default 100 connections.
const testMaxOpenConns = 8

// Each runs fn as the subtests "sqlite" and "postgres", each with a fresh migrated Store.
// The postgres subtest is skipped when TEST_DATABASE_URL is unset and fails when it is set but
// unusable. fn may call t.Parallel.
func Each(t *testing.T, fn func(t *testing.T, s *models.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a fresh migrated Store on a new file in t.TempDir(), closed at cleanup.
func SQLite(t testing.TB) *models.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	path := filepath.Join(t.TempDir(), "test.db")
	s, err := models.Open(ctx, models.Config{SQLitePath: path}, logger())
	if err != nil {
		t.Fatalf("dbtest: open SQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("dbtest: close SQLite: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("dbtest: migrate SQLite: %v", err)
	}
	return s
}

// Postgres returns a fresh migrated Store in a new schema with a random name, dropped at
// cleanup. It skips the test when TEST_DATABASE_URL is unset and fails it (never skips) when
// the variable is set but the server cannot be used.
func Postgres(t testing.TB) *models.Store {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		t.Skip(EnvPostgresURL + " not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	schema := "test_" + randomHex(t, 8)
	admin, err := models.Open(ctx, models.Config{DatabaseURL: base, MaxOpenConns: 1}, logger())
	if err != nil {
		t.Fatalf("dbtest: %s is set but PostgreSQL is unusable: %v", EnvPostgresURL, err)
	}
	err = admin.DB().WithContext(ctx).Exec("CREATE SCHEMA " + schema).Error
	if cerr := admin.Close(); cerr != nil {
		t.Errorf("dbtest: close admin connection: %v", cerr)
	}
	if err != nil {
		t.Fatalf("dbtest: create schema %s: %v", schema, err)
	}

	withSchema, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("dbtest: %s: %v", EnvPostgresURL, err)
	}
	s, err := models.Open(ctx, models.Config{DatabaseURL: withSchema, MaxOpenConns: testMaxOpenConns}, logger())
	if err != nil {
		t.Fatalf("dbtest: open PostgreSQL schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		// Dropped through the test's own pool: the schema only needs to be gone, and this
		// saves holding a second connection for the whole test.
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := s.DB().WithContext(ctx).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Errorf("dbtest: drop schema %s: %v", schema, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("dbtest: close PostgreSQL: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("dbtest: migrate PostgreSQL schema %s: %v", schema, err)
	}
	return s
}

// withSearchPath makes every connection of the pool use schema; pgx passes unknown URL or
// keyword parameters to the server as run-time parameters.
func withSearchPath(base, schema string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("parse URL: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return base + " search_path=" + schema, nil
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("dbtest: random schema name: %v", err)
	}
	return hex.EncodeToString(b)
}

// logger discards: tests provoke SQL errors (unique violations) on purpose, and GORM logs
// every failed statement.
func logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
