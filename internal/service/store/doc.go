// Package store is kiln serve's own tables (apps, tokens, builds, their
// sources and logs) in plain SQL for both of its databases: SQLite
// (modernc.org/sqlite, pure Go, embedded) and PostgreSQL (pgx). Open
// returns a DB; its operations run on the DB or, through DB.Tx, inside
// one transaction. River's job tables live in the same database and are
// migrated here too, so a build row and its job commit together.
package store
