package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// CreateSession inserts sess (its User is not written) and fills its ID. A token hash that is
// already stored gives ErrDuplicate.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	err := s.db.WithContext(ctx).Omit(clause.Associations).Create(sess).Error
	if isUniqueViolation(err) {
		return fmt.Errorf("create session: %w", ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("create session for user %d: %w", sess.UserID, err)
	}
	return nil
}

// SessionByTokenHash returns the session with this token hash, with its User loaded, if it
// has not expired at now; otherwise ErrNotFound. It runs on every authenticated request, so it
// is a single joined query.
func (s *Store) SessionByTokenHash(ctx context.Context, hash string, now time.Time) (*Session, error) {
	var sess Session
	err := s.db.WithContext(ctx).
		Joins("User").
		Where("sessions.token_hash = ? AND sessions.expires_at > ?", hash, utc(now)).
		Take(&sess).Error
	if isRecordNotFound(err) {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return &sess, nil
}

// DeleteSession removes a session (signing out). ErrNotFound if it was already gone, which
// callers signing out may treat as success.
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&Session{})
	if res.Error != nil {
		return fmt.Errorf("delete session %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete session %d: %w", id, ErrNotFound)
	}
	return nil
}
