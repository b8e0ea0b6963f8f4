package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// migrations are kiln's schema versions, oldest first, in a dialect-neutral
// SQL: {{ID}} is an auto-increment primary key, {{BLOB}} a byte string.
// Times are Unix milliseconds, 0 when unset; flags are 0 or 1. Never edit
// one that shipped: add the next.
var migrations = []string{
	`CREATE TABLE kiln_apps (
		name TEXT PRIMARY KEY,
		image TEXT NOT NULL,
		builder TEXT NOT NULL DEFAULT '',
		env TEXT NOT NULL DEFAULT '{}',
		cache_image TEXT NOT NULL DEFAULT '',
		signing_key TEXT NOT NULL DEFAULT '',
		webhook_secret TEXT NOT NULL DEFAULT '',
		created BIGINT NOT NULL,
		lease_build BIGINT NOT NULL DEFAULT 0,
		lease_until BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE kiln_deploy_tokens (
		id {{ID}},
		app TEXT NOT NULL,
		hash TEXT NOT NULL,
		created BIGINT NOT NULL
	);
	CREATE INDEX kiln_deploy_tokens_app ON kiln_deploy_tokens (app);
	CREATE TABLE kiln_builds (
		id {{ID}},
		app TEXT NOT NULL,
		status TEXT NOT NULL,
		trigger_kind TEXT NOT NULL,
		git_url TEXT NOT NULL DEFAULT '',
		ref TEXT NOT NULL DEFAULT '',
		commit_sha TEXT NOT NULL DEFAULT '',
		image TEXT NOT NULL DEFAULT '',
		digest TEXT NOT NULL DEFAULT '',
		phase TEXT NOT NULL DEFAULT '',
		exit_code INTEGER NOT NULL DEFAULT 0,
		reason TEXT NOT NULL DEFAULT '',
		phases TEXT NOT NULL DEFAULT '[]',
		created BIGINT NOT NULL,
		started BIGINT NOT NULL DEFAULT 0,
		finished BIGINT NOT NULL DEFAULT 0,
		heartbeat BIGINT NOT NULL DEFAULT 0,
		attempt INTEGER NOT NULL DEFAULT 1,
		job_id BIGINT NOT NULL DEFAULT 0,
		run_id TEXT NOT NULL DEFAULT '',
		worker TEXT NOT NULL DEFAULT '',
		cancel_requested INTEGER NOT NULL DEFAULT 0,
		log_size BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX kiln_builds_app ON kiln_builds (app, id);
	CREATE INDEX kiln_builds_status ON kiln_builds (status);
	CREATE TABLE kiln_build_sources (
		build_id BIGINT PRIMARY KEY,
		data {{BLOB}} NOT NULL
	);
	CREATE TABLE kiln_log_chunks (
		build_id BIGINT NOT NULL,
		off BIGINT NOT NULL,
		data {{BLOB}} NOT NULL,
		PRIMARY KEY (build_id, off)
	);`,
	// 2: the credentials of a build's git URL, kept apart from the build's
	// record (which holds the URL without them) until the build ends; and
	// settings every process shares (the admin token's hash).
	`CREATE TABLE kiln_build_credentials (
		build_id BIGINT PRIMARY KEY,
		userinfo TEXT NOT NULL
	);
	CREATE TABLE kiln_settings (
		name TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);`,
	// 3: apps that are rebuilt when their builder changes, and the source
	// of each such app's last successful build, kept for that rebuild.
	`ALTER TABLE kiln_apps ADD COLUMN rebuild_on_builder_change INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE kiln_app_sources (
		app TEXT PRIMARY KEY,
		build_id BIGINT NOT NULL,
		git_url TEXT NOT NULL DEFAULT '',
		ref TEXT NOT NULL DEFAULT '',
		commit_sha TEXT NOT NULL DEFAULT '',
		data {{BLOB}}
	);`,
}

func (q Q) dialectSQL(s string) string {
	id, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"
	if q.d == Postgres {
		id, blob = "BIGSERIAL PRIMARY KEY", "BYTEA"
	}
	return strings.NewReplacer("{{ID}}", id, "{{BLOB}}", blob).Replace(s)
}

// Migrate brings River's tables and kiln's up to date. On SQLite it is
// one transaction. On PostgreSQL, where some of River's migrations must
// commit before the next, it holds an advisory lock, so that processes
// starting together take turns.
func (db *DB) Migrate(ctx context.Context) error {
	if db.d == Postgres {
		conn, err := db.Pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7013654321)`); err != nil {
			return fmt.Errorf("locking for migrations: %w", err)
		}
		defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7013654321)`)
		m, err := rivermigrate.New(riverpgxv5.New(db.Pool), nil)
		if err != nil {
			return err
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("migrating River's tables: %w", err)
		}
		return db.Tx(ctx, func(tx *Tx) error { return tx.migrate(ctx) })
	}
	// River runs each of its migrations in its own transaction (some
	// cannot share one); ours follow in one.
	m, err := rivermigrate.New(riversqlite.New(db.SQL), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's tables: %w", err)
	}
	return db.Tx(ctx, func(tx *Tx) error { return tx.migrate(ctx) })
}

func (q Q) migrate(ctx context.Context) error {
	if _, err := q.exec(ctx, `CREATE TABLE IF NOT EXISTS kiln_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("creating the migrations table: %w", err)
	}
	var have int
	if err := q.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM kiln_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("reading the schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("the database has schema version %d, newer than this kiln knows (%d): upgrade kiln", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		for _, stmt := range strings.Split(q.dialectSQL(migrations[v-1]), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := q.exec(ctx, stmt); err != nil {
				return fmt.Errorf("migrating to schema version %d: %w", v, err)
			}
		}
		if _, err := q.exec(ctx, `INSERT INTO kiln_migrations (version) VALUES (?)`, v); err != nil {
			return fmt.Errorf("recording schema version %d: %w", v, err)
		}
	}
	return nil
}
