package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Commit is one auction's batch for CommitMany: the auction row to write, the seq it must still
// have, and the bids to insert.
type Commit struct {
	Auction     *Auction
	ExpectedSeq int64
	Bids        []Bid
}

// CommitMany stores the batches of several auctions with ONE commit: on PostgreSQL a single
// statement (see pgCommitMany); on SQLite one immediate transaction.
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

// pgCommitMany writes every batch of a CommitMany in one statement. One statement per auction
// cost PostgreSQL more in per-statement overhead (parse, plan, executor start-up) than the rows
// themselves; as one statement of fixed text it is prepared once per connection whatever the
// number of auctions, and there is no parameter-count limit because rows travel as arrays.
//
// The conditional update (seq still the expected one) picks the auctions that are written; the
// insert then takes only the bids of those auctions, so a stale auction changes nothing and the
// others go on. Bids are inserted in slice order (ORDER BY ord), so within an auction ids follow
// the order of its batch. Money travels as text and is cast per element, so no float ever
// appears; a NULL element writes NULL. A unique violation (a repeated request id) aborts the
// whole statement. The answer is (0, auction id, 0) per updated auction and
// (1, auction id, bid id) per inserted bid.
const pgCommitMany = `WITH u AS (
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[],
		$7::integer[], $8::timestamptz[], $9::bigint[], $10::text[], $11::timestamptz[], $12::bigint[],
		$13::timestamptz[], $14::integer[])
		AS t(id, expected_seq, status, current_price, high_bidder_id, leader_max,
			bid_count, ends_at, winner_id, closed_reason, closed_at, seq,
			updated_at, watchers)
), upd AS (
	UPDATE auctions a SET status = u.status, current_price = u.current_price::numeric,
		high_bidder_id = u.high_bidder_id, leader_max = u.leader_max::numeric, bid_count = u.bid_count,
		ends_at = u.ends_at, winner_id = u.winner_id, closed_reason = u.closed_reason,
		closed_at = u.closed_at, seq = u.seq, watchers = u.watchers, updated_at = u.updated_at
	FROM u
	WHERE a.id = u.id AND a.seq = u.expected_seq
	RETURNING a.id
), ins AS (
	INSERT INTO bids (auction_id, bidder_id, amount, max_amount, request_id, "leading", seq, created_at)
	SELECT b.auction_id, b.bidder_id, b.amount::numeric, b.max_amount::numeric, b.request_id, b."leading", b.seq, b.created_at
	FROM unnest($15::bigint[], $16::bigint[], $17::text[], $18::text[], $19::text[], $20::boolean[],
		$21::bigint[], $22::timestamptz[])
		WITH ORDINALITY AS b(auction_id, bidder_id, amount, max_amount, request_id, "leading",
			seq, created_at, ord)
	WHERE b.auction_id IN (SELECT id FROM upd)
	ORDER BY b.ord
	RETURNING id, auction_id
)
SELECT 0, id, 0 FROM upd
UNION ALL
SELECT 1, auction_id, id FROM ins`

// commitManyPostgres runs pgCommitMany over the batches without an error yet and sets errs[i]
// to ErrConflict for those whose auction it did not update. It returns an error, and the caller
// falls back to one CommitBatch per batch, when the statement as a whole failed (nothing was
// written then) or when an auction appears twice: one statement sees one snapshot, so a second
// batch of the same auction could not build on the first as it does in order on its own.
func (s *Store) commitManyPostgres(ctx context.Context, commits []Commit, errs []error) error {
	args, index, err := pgCommitManyArgs(commits, errs)
	if err != nil || len(index) == 0 {
		return err
	}
	rows, err := s.sqlDB.QueryContext(ctx, pgCommitMany, args...)
	if err != nil {
		return fmt.Errorf("commit many of %d auctions: %w", len(index), classifyBatchErr(err))
	}
	defer rows.Close()
	updated := make([]bool, len(commits))
	inserted := make([][]int64, len(commits))
	for rows.Next() {
		var kind, auctionID, id int64
		if err := rows.Scan(&kind, &auctionID, &id); err != nil {
			return fmt.Errorf("commit many: scan: %w", err)
		}
		i, ok := index[auctionID]
		if !ok {
			return fmt.Errorf("commit many: answer for auction %d, which was not sent", auctionID)
		}
		if kind == 0 {
			updated[i] = true
		} else {
			inserted[i] = append(inserted[i], id)
		}
	}
	// A unique violation can arrive after some rows: only a clean end means anything was stored.
	if err := rows.Err(); err != nil {
		return fmt.Errorf("commit many of %d auctions: %w", len(index), classifyBatchErr(err))
	}
	for _, i := range index {
		c := commits[i]
		if !updated[i] {
			errs[i] = fmt.Errorf("commit batch for auction %d: auction seq is not %d: %w", c.Auction.ID, c.ExpectedSeq, ErrConflict)
			continue
		}
		if err := assignIDs(c.Bids, inserted[i]); err != nil {
			return fmt.Errorf("commit many: auction %d: %w", c.Auction.ID, err)
		}
	}
	return nil
}

// pgCommitManyArgs builds the arrays pgCommitMany unnests from the batches without an error, and
// maps each of their auction ids to its index in commits. Nullable columns go as slices of
// pointers, whose nil elements pgx sends as NULL.
func pgCommitManyArgs(commits []Commit, errs []error) ([]any, map[int64]int, error) {
	n, nBids := 0, 0
	for i, c := range commits {
		if errs[i] == nil {
			n++
			nBids += len(c.Bids)
		}
	}
	var (
		index = make(map[int64]int, n)

		ids           = make([]int64, 0, n)
		expectedSeqs  = make([]int64, 0, n)
		statuses      = make([]string, 0, n)
		currentPrices = make([]*string, 0, n)
		highBidderIDs = make([]*int64, 0, n)
		leaderMaxes   = make([]*string, 0, n)
		bidCounts     = make([]int, 0, n)
		endsAts       = make([]time.Time, 0, n)
		winnerIDs     = make([]*int64, 0, n)
		closedReasons = make([]*string, 0, n)
		closedAts     = make([]*time.Time, 0, n)
		seqs          = make([]int64, 0, n)
		updatedAts    = make([]time.Time, 0, n)
		watchers      = make([]int, 0, n)

		bidAuctionIDs = make([]int64, 0, nBids)
		bidderIDs     = make([]int64, 0, nBids)
		amounts       = make([]string, 0, nBids)
		maxAmounts    = make([]string, 0, nBids)
		requestIDs    = make([]*string, 0, nBids)
		leading       = make([]bool, 0, nBids)
		bidSeqs       = make([]int64, 0, nBids)
		createdAts    = make([]time.Time, 0, nBids)
	)
	for i, c := range commits {
		if errs[i] != nil {
			continue
		}
		a := c.Auction
		if j, dup := index[a.ID]; dup {
			return nil, nil, fmt.Errorf("commit many: auction %d has batches %d and %d", a.ID, j, i)
		}
		index[a.ID] = i
		ids = append(ids, a.ID)
		expectedSeqs = append(expectedSeqs, c.ExpectedSeq)
		statuses = append(statuses, a.Status)
		currentPrices = append(currentPrices, nullDecimalText(a.CurrentPrice))
		highBidderIDs = append(highBidderIDs, a.HighBidderID)
		leaderMaxes = append(leaderMaxes, nullDecimalText(a.LeaderMax))
		bidCounts = append(bidCounts, a.BidCount)
		endsAts = append(endsAts, a.EndsAt)
		winnerIDs = append(winnerIDs, a.WinnerID)
		closedReasons = append(closedReasons, a.ClosedReason)
		closedAts = append(closedAts, a.ClosedAt)
		seqs = append(seqs, a.Seq)
		updatedAts = append(updatedAts, a.UpdatedAt)
		watchers = append(watchers, a.Watchers)
		for _, b := range c.Bids {
			bidAuctionIDs = append(bidAuctionIDs, b.AuctionID)
			bidderIDs = append(bidderIDs, b.BidderID)
			amounts = append(amounts, b.Amount.String())
			maxAmounts = append(maxAmounts, b.MaxAmount.String())
			requestIDs = append(requestIDs, b.RequestID)
			leading = append(leading, b.Leading)
			bidSeqs = append(bidSeqs, b.Seq)
			createdAts = append(createdAts, b.CreatedAt)
		}
	}
	args := []any{ids, expectedSeqs, statuses, currentPrices, highBidderIDs, leaderMaxes,
		bidCounts, endsAts, winnerIDs, closedReasons, closedAts, seqs, updatedAts, watchers,
		bidAuctionIDs, bidderIDs, amounts, maxAmounts, requestIDs, leading, bidSeqs, createdAts}
	return args, index, nil
}

// nullDecimalText is d as pgCommitMany takes money: text, or nil for NULL.
func nullDecimalText(d decimal.NullDecimal) *string {
	if !d.Valid {
		return nil
	}
	s := d.Decimal.String()
	return &s
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
