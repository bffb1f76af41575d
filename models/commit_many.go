package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Commit is one auction's batch for CommitMany: the auction row to write, the seq it must still
// have, and the bids to insert.
type Commit struct {
	Auction     *Auction
	ExpectedSeq int64
	Bids        []Bid
}

// CommitMany stores the batches of several auctions with ONE commit: on PostgreSQL a single
// pipelined round trip, run as one implicit transaction; on SQLite one immediate transaction.
// When many auctions each have a bid or two, this is what keeps the database from paying an
// fsync per auction.
//
// Each batch still stands alone: errs[i] is nil when batch i was stored, or wraps ErrConflict
// when its auction's seq had moved (the others are stored regardless). If the combined write
// fails as a whole, for example because one batch repeats a stored request id, every batch is
// retried on its own with CommitBatch, so one bad batch costs the others only time.
func (s *Store) CommitMany(ctx context.Context, commits []Commit) (errs []error) {
	errs = make([]error, len(commits))
	if len(commits) == 1 {
		c := commits[0]
		errs[0] = s.CommitBatch(ctx, c.Auction, c.ExpectedSeq, c.Bids)
		return errs
	}
	begin := time.Now()
	now := utc(begin)
	for i, c := range commits {
		if err := normalizeCommit(c.Auction, c.Bids, now); err != nil {
			errs[i] = err
		}
	}
	var err error
	if s.dialect == DialectPostgres {
		err = s.commitManyPostgres(ctx, commits, errs)
	} else {
		err = s.commitManySQLite(ctx, commits, errs)
	}
	s.db.Logger.Trace(ctx, begin, func() (string, int64) {
		return fmt.Sprintf("commit many: %d auctions", len(commits)), int64(len(commits))
	}, err)
	if err == nil {
		return errs
	}
	for i, c := range commits {
		for j := range c.Bids {
			c.Bids[j].ID = 0
		}
		if errs[i] == nil || errors.Is(errs[i], ErrConflict) {
			errs[i] = s.CommitBatch(ctx, c.Auction, c.ExpectedSeq, c.Bids)
		}
	}
	return errs
}

// commitManyPostgres queues pgCommitBatch once per auction in one pgx batch. Its conditional
// update makes a stale auction insert nothing and report zero rows, so a conflict stays local
// to its auction; only an error (a unique violation) aborts the implicit transaction.
func (s *Store) commitManyPostgres(ctx context.Context, commits []Commit, errs []error) error {
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("commit many: get connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		batch := &pgx.Batch{}
		var queued []int
		for i, c := range commits {
			if errs[i] != nil {
				continue
			}
			args := append(auctionUpdateArgs(c.Auction, c.ExpectedSeq), pgBidArrays(c.Bids)...)
			batch.Queue(pgCommitBatch, args...)
			queued = append(queued, i)
		}
		results := pc.SendBatch(ctx, batch)
		for _, i := range queued {
			if err := readCommitResult(results, commits[i], errs, i); err != nil {
				_ = results.Close()
				return err
			}
		}
		if err := results.Close(); err != nil {
			return classifyBatchErr(err)
		}
		return nil
	})
}

// readCommitResult reads one pgCommitBatch answer: (0, rows updated) and (1, id) per bid.
func readCommitResult(results pgx.BatchResults, c Commit, errs []error, i int) error {
	rows, err := results.Query()
	if err != nil {
		return classifyBatchErr(err)
	}
	defer rows.Close()
	var updated int64
	ids := make([]int64, 0, len(c.Bids))
	for rows.Next() {
		var kind, v int64
		if err := rows.Scan(&kind, &v); err != nil {
			return err
		}
		if kind == 0 {
			updated = v
		} else {
			ids = append(ids, v)
		}
	}
	if err := rows.Err(); err != nil {
		return classifyBatchErr(err)
	}
	if updated == 0 {
		errs[i] = fmt.Errorf("commit batch for auction %d: auction seq is not %d: %w", c.Auction.ID, c.ExpectedSeq, ErrConflict)
		return nil
	}
	if err := assignIDs(c.Bids, ids); err != nil {
		return err
	}
	return nil
}

// commitManySQLite applies every batch in one immediate transaction, each inside its own
// savepoint: a batch that fails (stale seq, repeated request id) is undone alone and the others
// go on. Savepoints cost nothing like a round trip here: SQLite runs in-process.
func (s *Store) commitManySQLite(ctx context.Context, commits []Commit, errs []error) error {
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("commit many: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for i, c := range commits {
		if errs[i] != nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT batch"); err != nil {
			return fmt.Errorf("commit many: savepoint: %w", err)
		}
		if _, err := sqliteApplyCommit(ctx, tx, c.Auction, c.ExpectedSeq, c.Bids); err != nil {
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO batch"); rerr != nil {
				return fmt.Errorf("commit many: rollback to savepoint: %w", rerr)
			}
			errs[i] = fmt.Errorf("commit batch for auction %d: %w", c.Auction.ID, err)
		}
		if _, err := tx.ExecContext(ctx, "RELEASE batch"); err != nil {
			return fmt.Errorf("commit many: release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit many: commit: %w", err)
	}
	return nil
}
