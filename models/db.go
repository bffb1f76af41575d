package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
	"gorm.io/gorm/schema"
)

// Dialect names returned by (*Store).Dialect.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Pool sizes used when Config.MaxOpenConns is zero. SQLite has a single writer, so more
// connections only add lock contention; PostgreSQL can use many for concurrent readers.
const (
	DefaultPostgresMaxOpenConns = 32
	DefaultSQLiteMaxOpenConns   = 8
)

// DefaultSQLitePath is the embedded database file used when neither a URL nor a path is given,
// matching the SQLITE_PATH default of the external contract.
const DefaultSQLitePath = "auction.db"

// slowQueryThreshold is the duration above which a statement is logged at warn level.
const slowQueryThreshold = 200 * time.Millisecond

// Config selects and sizes the database.
type Config struct {
	// DatabaseURL, when set (postgres://…), selects PostgreSQL; otherwise SQLite is used.
	DatabaseURL string
	// SQLitePath is the SQLite file; empty means DefaultSQLitePath.
	SQLitePath string
	// MaxOpenConns bounds the pool; zero picks the per-dialect default.
	MaxOpenConns int
}

// Store is the database handle of the application: every query and transaction the engine
// and the handlers need goes through its methods. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect string
}

// openError keeps a one-line, password-free message for the operator while still letting
// callers inspect the driver error with errors.Is/As.
type openError struct {
	msg string
	err error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

// Open connects to PostgreSQL when cfg.DatabaseURL is set, else to the SQLite file at
// cfg.SQLitePath, and pings it with ctx. It does not migrate; call Migrate for that.
// A failure is reported as one human-readable line that never contains the password.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	gcfg := &gorm.Config{
		Logger: gormlogger.NewSlogLogger(logger, gormlogger.Config{
			SlowThreshold:             slowQueryThreshold,
			LogLevel:                  gormlogger.Warn,
			IgnoreRecordNotFoundError: true,
			// Parameters include password and token hashes: keep them out of the logs.
			ParameterizedQueries: true,
		}),
		NowFunc: func() time.Time { return utc(time.Now()) },
	}
	var (
		s   *Store
		err error
	)
	if cfg.DatabaseURL != "" {
		s, err = openPostgres(ctx, cfg, gcfg)
	} else {
		s, err = openSQLite(ctx, cfg, gcfg)
	}
	if err != nil {
		return nil, err
	}
	if err := registerTimeCallbacks(s.db); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("register gorm callbacks: %w", err)
	}
	return s, nil
}

func openPostgres(ctx context.Context, cfg Config, gcfg *gorm.Config) (*Store, error) {
	pcfg, err := pgx.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		// pgx already redacts the password in its parse errors; scrub anyway, in case.
		return nil, &openError{msg: "invalid DATABASE_URL: " + oneLine(scrubPassword(err.Error(), cfg.DatabaseURL)), err: err}
	}
	where := net.JoinHostPort(pcfg.Host, strconv.Itoa(int(pcfg.Port)))
	if pcfg.ConnectTimeout == 0 {
		// Without a timeout an unroutable host hangs start-up for minutes (the kernel's TCP timeout).
		pcfg.ConnectTimeout = 10 * time.Second
	}
	if _, ok := pcfg.RuntimeParams["timezone"]; !ok {
		// Columns are timestamptz, so this only affects server-side rendering, e.g. in psql logs.
		pcfg.RuntimeParams["timezone"] = "UTC"
	}
	sqlDB := stdlib.OpenDB(*pcfg, stdlib.OptionAfterConnect(func(_ context.Context, conn *pgx.Conn) error {
		// pgx scans timestamptz in time.Local by default; the application promises UTC everywhere.
		conn.TypeMap().RegisterType(&pgtype.Type{
			Name:  "timestamptz",
			OID:   pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}))
	maxOpen := cfg.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = DefaultPostgresMaxOpenConns
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	// Recycling lets a failed-over or rebalanced server be picked up without a restart.
	sqlDB.SetConnMaxLifetime(30 * time.Minute)

	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, &openError{
			msg: fmt.Sprintf("cannot reach database at %s: %s", where, oneLine(scrubPassword(err.Error(), cfg.DatabaseURL))),
			err: err,
		}
	}
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), gcfg)
	if err != nil {
		_ = sqlDB.Close()
		return nil, &openError{
			msg: fmt.Sprintf("cannot use database at %s: %s", where, oneLine(scrubPassword(err.Error(), cfg.DatabaseURL))),
			err: err,
		}
	}
	return &Store{db: db, sqlDB: sqlDB, dialect: DialectPostgres}, nil
}

// sqlitePragmas are applied by the driver on every new connection. busy_timeout makes writers
// queue instead of failing; WAL lets readers run during a write; synchronous(FULL) makes every
// acknowledged commit survive power loss; _txlock=immediate takes the write lock at BEGIN, so a
// transaction never fails half-way when upgrading from a read lock.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(FULL)&_txlock=immediate"

func openSQLite(ctx context.Context, cfg Config, gcfg *gorm.Config) (*Store, error) {
	path := cfg.SQLitePath
	if path == "" {
		path = DefaultSQLitePath
	}
	// The driver splits the DSN at the first '?', so such a path would silently open another file.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("invalid SQLITE_PATH %q: it must not contain '?'", path)
	}
	// SQLite's own message for a missing directory is a misleading "out of memory".
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, &openError{msg: fmt.Sprintf("cannot open SQLite database at %s: %s", path, oneLine(err.Error())), err: err}
		}
	}
	// _time_format is deliberately absent: go-sqlite stops reading parameters after it, which
	// would drop _txlock. Its default format is fine once every time is UTC (see utc).
	db, err := gorm.Open(sqlite.Open(path+"?"+sqlitePragmas), gcfg)
	if err != nil {
		return nil, &openError{msg: fmt.Sprintf("cannot open SQLite database at %s: %s", path, oneLine(err.Error())), err: err}
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("cannot open SQLite database at %s: %w", path, err)
	}
	maxOpen := cfg.MaxOpenConns
	if maxOpen <= 0 {
		maxOpen = DefaultSQLiteMaxOpenConns
	}
	sqlDB.SetMaxOpenConns(maxOpen)
	sqlDB.SetMaxIdleConns(maxOpen)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, &openError{msg: fmt.Sprintf("cannot open SQLite database at %s: %s", path, oneLine(err.Error())), err: err}
	}
	return &Store{db: db, sqlDB: sqlDB, dialect: DialectSQLite}, nil
}

// Close closes every pooled connection.
func (s *Store) Close() error {
	if err := s.sqlDB.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// DB returns the underlying GORM handle for queries the Store does not offer. Write times in
// UTC (struct writes are normalised by a callback; raw SQL and map updates are not).
func (s *Store) DB() *gorm.DB { return s.db }

// Dialect reports which database is in use: DialectPostgres or DialectSQLite.
func (s *Store) Dialect() string { return s.dialect }

// Ping checks that the database answers, e.g. for /healthz.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, err)
	}
	return nil
}

// utc is the one time representation the database sees. PostgreSQL keeps microseconds and
// SQLite a text with nanoseconds, so truncating to milliseconds (the wire precision) makes both
// return the same value. On SQLite it is also what makes comparisons correct: go-sqlite writes
// "2006-01-02 15:04:05.999999999-07:00" (trailing fraction zeros dropped), and with the offset
// always +00:00 such texts sort exactly like the instants they denote — a whole second
// ("…:05+00:00") sorts before any fraction of it ("…:05.1+00:00") because '+' < '.', and
// trimmed fractions compare digit by digit. Since stored values are whole milliseconds,
// comparing them with a truncated bound gives the same answer as with the untruncated one.
func utc(t time.Time) time.Time {
	return t.UTC().Truncate(time.Millisecond)
}

// oneLine flattens multi-line driver errors (pgx joins per-host errors with newlines) so
// the start-up failure stays one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// scrubPassword removes the URL's password from s, should any driver echo it.
func scrubPassword(s, rawURL string) string {
	if cfg, err := pgx.ParseConfig(rawURL); err == nil && cfg.Password != "" {
		s = strings.ReplaceAll(s, cfg.Password, "xxxxx")
	}
	return s
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	timePtrType = reflect.TypeFor[*time.Time]()
)

// registerTimeCallbacks makes every GORM create and update store its times as utc does,
// including writes made by other packages through DB(); the caller's struct is updated in
// place so that it matches what was stored.
func registerTimeCallbacks(db *gorm.DB) error {
	if err := db.Callback().Create().Before("gorm:create").Register("auctionhouse:utc_times", normalizeTimes); err != nil {
		return fmt.Errorf("create callback: %w", err)
	}
	if err := db.Callback().Update().Before("gorm:update").Register("auctionhouse:utc_times", normalizeTimes); err != nil {
		return fmt.Errorf("update callback: %w", err)
	}
	return nil
}

func normalizeTimes(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	stmt := db.Statement
	switch dest := stmt.Dest.(type) {
	case map[string]any:
		for k, v := range dest {
			dest[k] = normalizeTimeValue(v)
		}
		return
	case *map[string]any:
		for k, v := range *dest {
			(*dest)[k] = normalizeTimeValue(v)
		}
		return
	}
	if stmt.Schema == nil || !stmt.ReflectValue.IsValid() {
		return
	}
	switch rv := stmt.ReflectValue; rv.Kind() {
	case reflect.Struct:
		normalizeStruct(stmt.Context, stmt.Schema, rv)
	case reflect.Slice, reflect.Array:
		for i := 0; i < rv.Len(); i++ {
			normalizeStruct(stmt.Context, stmt.Schema, reflect.Indirect(rv.Index(i)))
		}
	}
}

func normalizeTimeValue(v any) any {
	switch t := v.(type) {
	case time.Time:
		return utc(t)
	case *time.Time:
		if t != nil {
			u := utc(*t)
			return &u
		}
	}
	return v
}

func normalizeStruct(ctx context.Context, sch *schema.Schema, rv reflect.Value) {
	if rv.Kind() != reflect.Struct || !rv.CanAddr() {
		return
	}
	for _, f := range sch.Fields {
		if f.FieldType != timeType && f.FieldType != timePtrType {
			continue
		}
		v, zero := f.ValueOf(ctx, rv)
		if zero {
			continue
		}
		switch t := v.(type) {
		case time.Time:
			if u := utc(t); !u.Equal(t) || u.Location() != t.Location() {
				_ = f.Set(ctx, rv, u)
			}
		case *time.Time:
			if t != nil {
				if u := utc(*t); !u.Equal(*t) || u.Location() != t.Location() {
					// A new pointer, so a time shared with other structs is left untouched.
					_ = f.Set(ctx, rv, &u)
				}
			}
		}
	}
}

// isRecordNotFound hides gorm's sentinel from the rest of the package.
func isRecordNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }
