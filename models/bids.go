package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// BidsByAuction returns the auction's bids newest first (seq descending) with their Bidder
// loaded. limit <= 0 means all of them.
func (s *Store) BidsByAuction(ctx context.Context, auctionID int64, limit, offset int) ([]Bid, error) {
	q := s.db.WithContext(ctx).Joins("Bidder").
		Where("bids.auction_id = ?", auctionID).
		Order("bids.seq DESC, bids.id DESC")
	if limit > 0 {
		q = q.Limit(limit)
	}
	if offset > 0 {
		q = q.Offset(offset)
	}
	out := []Bid{}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("bids of auction %d: %w", auctionID, err)
	}
	return out, nil
}

// AllBids returns every bid of the auction oldest first (seq, then id), without bidders: the
// input for replaying an auction's history.
func (s *Store) AllBids(ctx context.Context, auctionID int64) ([]Bid, error) {
	out := []Bid{}
	err := s.db.WithContext(ctx).Where("auction_id = ?", auctionID).Order("seq, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("all bids of auction %d: %w", auctionID, err)
	}
	return out, nil
}

// RequestKey is one stored request id: unique per bidder and auction.
type RequestKey struct {
	BidderID  int64
	RequestID string
}

// RequestKeys returns the request ids stored with the auction's bids, so that the engine knows
// which requests it has answered, even after a restart. Only the keys: the answers are read
// back one at a time with BidByRequest when a request is repeated.
func (s *Store) RequestKeys(ctx context.Context, auctionID int64) ([]RequestKey, error) {
	out := []RequestKey{}
	err := s.db.WithContext(ctx).Model(&Bid{}).Select("bidder_id", "request_id").
		Where("auction_id = ? AND request_id IS NOT NULL", auctionID).
		Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("request ids of auction %d: %w", auctionID, err)
	}
	return out, nil
}

// BidByRequest returns the bid stored for a request id (through the unique index), or
// ErrNotFound.
func (s *Store) BidByRequest(ctx context.Context, auctionID int64, k RequestKey) (Bid, error) {
	var b Bid
	err := s.db.WithContext(ctx).
		Where("auction_id = ? AND bidder_id = ? AND request_id = ?", auctionID, k.BidderID, k.RequestID).
		Take(&b).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Bid{}, fmt.Errorf("bid of request %q by user %d on auction %d: %w", k.RequestID, k.BidderID, auctionID, ErrNotFound)
	}
	if err != nil {
		return Bid{}, fmt.Errorf("bid of request %q by user %d on auction %d: %w", k.RequestID, k.BidderID, auctionID, err)
	}
	return b, nil
}

// maxBidsPerInsert bounds one INSERT on SQLite: 8 parameters per row must stay below its limit
// of 32766 bound parameters. (PostgreSQL takes the whole batch as arrays in one statement.)
const maxBidsPerInsert = 1000

// CommitBatch atomically stores a group of accepted bids and the auction state they lead to:
// it inserts bids (filling their IDs in slice order; nothing is inserted when bids is empty) and
// writes a's status, current_price, high_bidder_id, leader_max, bid_count, ends_at, winner_id,
// closed_reason, closed_at, seq and updated_at, provided the stored seq is still expectedSeq.
// Otherwise, or when a bid's (auction, bidder, request id) is already stored (also twice within
// bids), it changes nothing and returns ErrConflict.
//
// Every bid must belong to a (a zero AuctionID is set to a.ID). Times are normalised in place
// to what is stored: a.UpdatedAt becomes now, a zero CreatedAt of a bid becomes now, and all
// times become UTC milliseconds.
//
// This is the hot path of group commit, so it reads nothing and loads nothing: on PostgreSQL it
// is a single statement (one round trip, atomic by itself); on SQLite, where round trips are
// function calls, one immediate transaction with an UPDATE and then the INSERT.
func (s *Store) CommitBatch(ctx context.Context, a *Auction, expectedSeq int64, bids []Bid) error {
	begin := time.Now()
	if err := normalizeCommit(a, bids, utc(begin)); err != nil {
		return err
	}

	var (
		query string
		err   error
	)
	if s.dialect == DialectPostgres {
		query, err = s.commitBatchPostgres(ctx, a, expectedSeq, bids)
	} else {
		query, err = s.commitBatchSQLite(ctx, a, expectedSeq, bids)
	}
	// database/sql is used directly (see the dialect functions), so report to GORM's logger by
	// hand to keep slow-statement warnings. Conflicts are an expected outcome, not a DB error.
	logErr := err
	if errors.Is(err, ErrConflict) {
		logErr = nil
	}
	s.db.Logger.Trace(ctx, begin, func() (string, int64) { return query, int64(len(bids)) }, logErr)
	if err != nil {
		for i := range bids {
			bids[i].ID = 0
		}
		return fmt.Errorf("commit batch of %d bids for auction %d at seq %d: %w", len(bids), a.ID, expectedSeq, err)
	}
	return nil
}

// normalizeCommit checks that every bid belongs to a and normalises times to what is stored:
// a.UpdatedAt becomes now, a zero CreatedAt of a bid becomes now, all times UTC milliseconds.
func normalizeCommit(a *Auction, bids []Bid, now time.Time) error {
	if a == nil || a.ID == 0 {
		return errors.New("commit batch: auction without id")
	}
	a.UpdatedAt = now
	a.EndsAt = utc(a.EndsAt)
	if a.ClosedAt != nil {
		t := utc(*a.ClosedAt)
		a.ClosedAt = &t
	}
	for i := range bids {
		b := &bids[i]
		switch b.AuctionID {
		case 0:
			b.AuctionID = a.ID
		case a.ID:
		default:
			return fmt.Errorf("commit batch: bid %d is for auction %d, not %d", i, b.AuctionID, a.ID)
		}
		if b.CreatedAt.IsZero() {
			b.CreatedAt = now
		} else {
			b.CreatedAt = utc(b.CreatedAt)
		}
	}
	return nil
}

// auctionUpdateSet is the column list written by CommitBatch, in auctionUpdateArgs order.
const auctionUpdateSet = `status = ?, current_price = ?, high_bidder_id = ?, leader_max = ?, bid_count = ?,
	ends_at = ?, winner_id = ?, closed_reason = ?, closed_at = ?, seq = ?, watchers = ?, updated_at = ?`

func auctionUpdateArgs(a *Auction, expectedSeq int64) []any {
	return []any{a.Status, a.CurrentPrice, a.HighBidderID, a.LeaderMax, a.BidCount,
		a.EndsAt, a.WinnerID, a.ClosedReason, a.ClosedAt, a.Seq, a.Watchers, a.UpdatedAt,
		a.ID, expectedSeq}
}

// dollarPlaceholders numbers the ? placeholders of q as $1, $2, … for PostgreSQL.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var (
	pgUpdateAuction = dollarPlaceholders(`UPDATE auctions SET ` + auctionUpdateSet + ` WHERE id = ? AND seq = ?`)

	// pgCommitBatch updates the auction and, only if that hit the row, inserts the bids passed
	// as arrays: one statement of fixed text (so it is prepared once, whatever the batch size)
	// and no parameter-count limit. Money goes as text[] and is cast per element, so no float
	// ever appears. It returns (0, rows updated) and (1, id) per inserted bid. A unique
	// violation aborts the whole statement, update included.
	pgCommitBatch = dollarPlaceholders(`WITH upd AS (
	UPDATE auctions SET ` + auctionUpdateSet + ` WHERE id = ? AND seq = ? RETURNING id
), ins AS (
	INSERT INTO bids (auction_id, bidder_id, amount, max_amount, request_id, "leading", seq, created_at)
	SELECT (SELECT id FROM upd), b.bidder_id, b.amount::numeric, b.max_amount::numeric, b.request_id, b."leading", b.seq, b.created_at
	FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::boolean[], ?::bigint[], ?::timestamptz[])
		WITH ORDINALITY AS b(bidder_id, amount, max_amount, request_id, "leading", seq, created_at, ord)
	WHERE EXISTS (SELECT 1 FROM upd)
	ORDER BY b.ord
	RETURNING id
)
SELECT 0, count(*) FROM upd
UNION ALL
SELECT 1, id FROM ins`)
)

// pgBidArrays are the bids as the column arrays pgCommitBatch unnests.
func pgBidArrays(bids []Bid) []any {
	var (
		bidderIDs  = make([]int64, len(bids))
		amounts    = make([]string, len(bids))
		maxAmounts = make([]string, len(bids))
		requestIDs = make([]*string, len(bids))
		leading    = make([]bool, len(bids))
		seqs       = make([]int64, len(bids))
		createdAt  = make([]time.Time, len(bids))
	)
	for i, b := range bids {
		bidderIDs[i] = b.BidderID
		amounts[i] = b.Amount.String()
		maxAmounts[i] = b.MaxAmount.String()
		requestIDs[i] = b.RequestID
		leading[i] = b.Leading
		seqs[i] = b.Seq
		createdAt[i] = b.CreatedAt
	}
	return []any{bidderIDs, amounts, maxAmounts, requestIDs, leading, seqs, createdAt}
}

func (s *Store) commitBatchPostgres(ctx context.Context, a *Auction, expectedSeq int64, bids []Bid) (string, error) {
	args := auctionUpdateArgs(a, expectedSeq)
	if len(bids) == 0 {
		res, err := s.sqlDB.ExecContext(ctx, pgUpdateAuction, args...)
		if err != nil {
			return pgUpdateAuction, err
		}
		return pgUpdateAuction, checkOneRow(res)
	}

	args = append(args, pgBidArrays(bids)...)

	rows, err := s.sqlDB.QueryContext(ctx, pgCommitBatch, args...)
	if err != nil {
		return pgCommitBatch, classifyBatchErr(err)
	}
	defer rows.Close()
	var (
		updated int64
		ids     = make([]int64, 0, len(bids))
	)
	for rows.Next() {
		var kind, v int64
		if err := rows.Scan(&kind, &v); err != nil {
			return pgCommitBatch, err
		}
		if kind == 0 {
			updated = v
		} else {
			ids = append(ids, v)
		}
	}
	if err := rows.Err(); err != nil {
		return pgCommitBatch, classifyBatchErr(err)
	}
	if updated == 0 {
		return pgCommitBatch, fmt.Errorf("auction seq is not %d: %w", expectedSeq, ErrConflict)
	}
	return pgCommitBatch, assignIDs(bids, ids)
}

var sqliteUpdateAuction = `UPDATE auctions SET ` + auctionUpdateSet + ` WHERE id = ? AND seq = ?`

const sqliteInsertBidsHead = `INSERT INTO bids (auction_id, bidder_id, amount, max_amount, request_id, "leading", seq, created_at) VALUES `

func (s *Store) commitBatchSQLite(ctx context.Context, a *Auction, expectedSeq int64, bids []Bid) (string, error) {
	// BEGIN IMMEDIATE (from _txlock): the write lock is taken up front, so the UPDATE cannot
	// fail with SQLITE_BUSY half-way through.
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return sqliteUpdateAuction, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	query, err := sqliteApplyCommit(ctx, tx, a, expectedSeq, bids)
	if err != nil {
		return query, err
	}
	if err := tx.Commit(); err != nil {
		return query, fmt.Errorf("commit: %w", err)
	}
	return query, nil
}

// sqliteApplyCommit writes one auction's batch inside tx: the conditional update first, so that
// a stale seq costs no insert, then the bids in chunks.
func sqliteApplyCommit(ctx context.Context, tx *sql.Tx, a *Auction, expectedSeq int64, bids []Bid) (string, error) {
	query := sqliteUpdateAuction
	res, err := tx.ExecContext(ctx, query, auctionUpdateArgs(a, expectedSeq)...)
	if err != nil {
		return query, err
	}
	if err := checkOneRow(res); err != nil {
		return query, err
	}

	ids := make([]int64, 0, len(bids))
	for chunk := range slices.Chunk(bids, maxBidsPerInsert) {
		var q strings.Builder
		q.Grow(len(sqliteInsertBidsHead) + len(chunk)*20 + 16)
		q.WriteString(sqliteInsertBidsHead)
		args := make([]any, 0, len(chunk)*8)
		for i, b := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?)")
			args = append(args, b.AuctionID, b.BidderID, b.Amount, b.MaxAmount, b.RequestID, b.Leading, b.Seq, b.CreatedAt)
		}
		q.WriteString(" RETURNING id")
		query = sqliteInsertBidsHead + "… RETURNING id"
		rows, err := tx.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return query, classifyBatchErr(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return query, err
			}
			ids = append(ids, id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return query, classifyBatchErr(err)
		}
	}
	return query, assignIDs(bids, ids)
}

func checkOneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("auction seq changed: %w", ErrConflict)
	}
	return nil
}

func classifyBatchErr(err error) error {
	if isUniqueViolation(err) {
		return fmt.Errorf("bid request id already stored: %w", ErrConflict)
	}
	return err
}

// assignIDs gives the bids their new ids in slice order. Neither database promises an order
// for RETURNING rows, but both assign ids increasing in insertion order (identity nextval per
// row in ORDER BY ord; SQLite's AUTOINCREMENT rowid per VALUES row), so the sorted ids match
// the slice.
func assignIDs(bids []Bid, ids []int64) error {
	if len(ids) != len(bids) {
		return fmt.Errorf("inserted %d bids, expected %d", len(ids), len(bids))
	}
	slices.Sort(ids)
	for i := range bids {
		bids[i].ID = ids[i]
	}
	return nil
}
