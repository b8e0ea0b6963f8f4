package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// Dialect is the SQL database kind.
type Dialect int

// The dialects.
const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// ErrNoRows is what a query for one row that found none returns.
var ErrNoRows = errors.New("no rows")

// DB is an open database.
type DB struct {
	Q
	// SQL is the SQLite pool (nil for PostgreSQL).
	SQL *sql.DB
	// Pool is the PostgreSQL pool (nil for SQLite).
	Pool *pgxpool.Pool
}

// Tx is one transaction; its Q runs inside it.
type Tx struct {
	Q
	// SQLTx is the SQLite transaction, PgxTx the PostgreSQL one (River
	// inserts its jobs through them).
	SQLTx *sql.Tx
	PgxTx pgx.Tx
}

// Open opens the database named by url: a postgres:// or postgresql://
// URL, or else an SQLite file path (created with its directory). It does
// not migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("opening the PostgreSQL database: %w", err)
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("connecting to the PostgreSQL database: %w", err)
		}
		return &DB{Q: Q{q: pgxQ{pool}, d: Postgres}, Pool: pool}, nil
	}
	path := strings.TrimPrefix(url, "sqlite://")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the database dir: %w", err)
	}
	// WAL lets readers in other processes go on while one writes; the
	// busy timeout waits for a lock instead of failing; immediate
	// transactions take the write lock at BEGIN, so two never deadlock
	// upgrading theirs.
	dsn := "file:" + path + "?_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening the SQLite database %s: %w", path, err)
	}
	// One connection, as River's SQLite driver advises: SQLite takes one
	// writer at a time, and queueing here beats SQLITE_BUSY there.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the SQLite database %s: %w", path, err)
	}
	return &DB{Q: Q{q: sqlQ{db}, d: SQLite}, SQL: db}, nil
}

// Close closes the pool.
func (db *DB) Close() error {
	if db.Pool != nil {
		db.Pool.Close()
		return nil
	}
	return db.SQL.Close()
}

// Dialect is the database's kind.
func (db *DB) Dialect() Dialect { return db.d }

// Tx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	if db.Pool != nil {
		ptx, err := db.Pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("beginning a transaction: %w", err)
		}
		defer ptx.Rollback(context.WithoutCancel(ctx))
		if err := fn(&Tx{Q: Q{q: pgxQ{ptx}, d: Postgres}, PgxTx: ptx}); err != nil {
			return err
		}
		if err := ptx.Commit(ctx); err != nil {
			return fmt.Errorf("committing: %w", err)
		}
		return nil
	}
	stx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	defer stx.Rollback()
	if err := fn(&Tx{Q: Q{q: sqlQ{stx}, d: SQLite}, SQLTx: stx}); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// Q runs the store's operations on a database or in a transaction.
type Q struct {
	q querier
	d Dialect
}

// querier is what both drivers offer: database/sql and pgx.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	query(ctx context.Context, q string, args ...any) (rows, error)
	queryRow(ctx context.Context, q string, args ...any) row
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

type row interface{ Scan(dest ...any) error }

// rebind turns the ? placeholders of q into PostgreSQL's $1, $2...
func (q Q) rebind(s string) string {
	if q.d != Postgres {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (q Q) exec(ctx context.Context, s string, args ...any) (int64, error) {
	return q.q.exec(ctx, q.rebind(s), args...)
}

func (q Q) query(ctx context.Context, s string, args ...any) (rows, error) {
	return q.q.query(ctx, q.rebind(s), args...)
}

func (q Q) queryRow(ctx context.Context, s string, args ...any) row {
	return q.q.queryRow(ctx, q.rebind(s), args...)
}

// database/sql (SQLite).
type sqlConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type sqlQ struct{ c sqlConn }

func (s sqlQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.c.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQ) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.c.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (s sqlQ) queryRow(ctx context.Context, q string, args ...any) row {
	return sqlRow{s.c.QueryRowContext(ctx, q, args...)}
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNoRows
	}
	return err
}

// pgx (PostgreSQL).
type pgxConn interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type pgxQ struct{ c pgxConn }

func (p pgxQ) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.c.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgxQ) query(ctx context.Context, q string, args ...any) (rows, error) {
	return p.c.Query(ctx, q, args...)
}

func (p pgxQ) queryRow(ctx context.Context, q string, args ...any) row {
	return pgxRow{p.c.QueryRow(ctx, q, args...)}
}

type pgxRow struct{ r pgx.Row }

func (r pgxRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoRows
	}
	return err
}
