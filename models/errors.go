package models

import (
	"errors"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors returned (wrapped, with context) by the Store; test them with errors.Is.
var (
	// ErrNotFound means the requested row does not exist (or, for sessions, has expired).
	ErrNotFound = errors.New("not found")
	// ErrDuplicate means a unique value is already taken, e.g. a username in another case.
	ErrDuplicate = errors.New("already exists")
	// ErrConflict means a conditional write lost a race: the auction's seq was not the expected
	// one, or a bid's request id was already stored. Nothing was written.
	ErrConflict = errors.New("conflict")
)

// SQLite extended result codes; go-sqlite turns extended codes on for every connection.
const (
	sqliteConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

// pgUniqueViolation is SQLSTATE unique_violation.
const pgUniqueViolation = "23505"

// isUniqueViolation reports whether err is a unique-constraint failure on either driver.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == pgUniqueViolation
	}
	var sqErr *gosqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqliteConstraintUnique || sqErr.Code() == sqliteConstraintPrimaryKey
	}
	return false
}
