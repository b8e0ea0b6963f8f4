package store

import (
	"context"
	"fmt"
)

// AddDeployToken records the hash (hex SHA-256) of a deploy token of app.
func (q Q) AddDeployToken(ctx context.Context, app, hash string, now int64) error {
	if _, err := q.exec(ctx, `INSERT INTO kiln_deploy_tokens (app, hash, created) VALUES (?, ?, ?)`, app, hash, now); err != nil {
		return fmt.Errorf("adding a deploy token to app %s: %w", app, err)
	}
	return nil
}

// DeployTokenHashes reads the hashes of app's deploy tokens.
func (q Q) DeployTokenHashes(ctx context.Context, app string) ([]string, error) {
	return q.strings(ctx, `SELECT hash FROM kiln_deploy_tokens WHERE app = ? ORDER BY id`, app)
}

// TokenHash is a deploy token's hash and its app.
type TokenHash struct{ App, Hash string }

// AllDeployTokenHashes reads every deploy token's hash with its app.
func (q Q) AllDeployTokenHashes(ctx context.Context) ([]TokenHash, error) {
	rs, err := q.query(ctx, `SELECT app, hash FROM kiln_deploy_tokens ORDER BY app, id`)
	if err != nil {
		return nil, fmt.Errorf("reading deploy tokens: %w", err)
	}
	defer rs.Close()
	var out []TokenHash
	for rs.Next() {
		var t TokenHash
		if err := rs.Scan(&t.App, &t.Hash); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rs.Err()
}

func (q Q) strings(ctx context.Context, s string, args ...any) ([]string, error) {
	rs, err := q.query(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var v string
		if err := rs.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// InitSetting sets setting name to value unless it is set, and returns
// the value it has then (value, or the one set before).
func (q Q) InitSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := q.exec(ctx, `INSERT INTO kiln_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return "", fmt.Errorf("setting %s: %w", name, err)
	}
	var v string
	if err := q.queryRow(ctx, `SELECT value FROM kiln_settings WHERE name = ?`, name).Scan(&v); err != nil {
		return "", fmt.Errorf("reading setting %s: %w", name, err)
	}
	return v, nil
}

// Setting reads setting name; "" when it is not set.
func (q Q) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := q.queryRow(ctx, `SELECT value FROM kiln_settings WHERE name = ?`, name).Scan(&v)
	if err == ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading setting %s: %w", name, err)
	}
	return v, nil
}
