package models

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// CreateUser inserts u and fills its ID and CreatedAt. A username already taken in any letter
// case gives ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if err := createUser(s.db.WithContext(ctx), u); err != nil {
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return nil
}

func createUser(db *gorm.DB, u *User) error {
	err := db.Omit(clause.Associations).Create(u).Error
	if isUniqueViolation(err) {
		return ErrDuplicate
	}
	return err
}

// UserByUsername finds a user by name regardless of letter case, or returns ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, name string) (*User, error) {
	u, err := userByUsername(s.db.WithContext(ctx), name)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

// userByUsername compares lower() on both sides so that the unique index on lower(username)
// serves the lookup.
func userByUsername(db *gorm.DB, name string) (*User, error) {
	var u User
	err := db.Where("lower(username) = lower(?)", name).Take(&u).Error
	if isRecordNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UserByID finds a user by id, or returns ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	var u User
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&u).Error
	if isRecordNotFound(err) {
		return nil, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("user %d: %w", id, err)
	}
	return &u, nil
}

// EnsureAdmin makes sure an admin account called username (in any letter case) exists with
// passwordHash: it creates it, or promotes the existing one and replaces its password hash.
// The existing account keeps the letter case it was created with.
func (s *Store) EnsureAdmin(ctx context.Context, username, passwordHash string) (*User, error) {
	var u *User
	ensure := func(tx *gorm.DB) error {
		found, err := userByUsername(tx, username)
		if errors.Is(err, ErrNotFound) {
			u = &User{Username: username, PasswordHash: passwordHash, Admin: true}
			return createUser(tx, u)
		}
		if err != nil {
			return err
		}
		err = tx.Model(found).Updates(map[string]any{"admin": true, "password_hash": passwordHash}).Error
		if err != nil {
			return err
		}
		found.Admin, found.PasswordHash = true, passwordHash
		u = found
		return nil
	}
	var err error
	// Two instances starting together can both miss the row on PostgreSQL and race to insert;
	// the loser's second attempt then finds the winner's row.
	for range 2 {
		if err = s.db.WithContext(ctx).Transaction(ensure); !errors.Is(err, ErrDuplicate) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ensure admin %q: %w", username, err)
	}
	return u, nil
}
