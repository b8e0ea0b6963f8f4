package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// App is one row of kiln_apps.
type App struct {
	Name          string
	Image         string // repository, without tag
	Builder       string // "" is kiln's default builder
	Env           map[string]string
	CacheImage    string
	SigningKey    string
	WebhookSecret string
	Created       int64 // Unix ms
}

const appCols = `name, image, builder, env, cache_image, signing_key, webhook_secret, created`

func scanApp(r interface{ Scan(...any) error }) (App, error) {
	var a App
	var env string
	if err := r.Scan(&a.Name, &a.Image, &a.Builder, &env, &a.CacheImage, &a.SigningKey, &a.WebhookSecret, &a.Created); err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(env), &a.Env); err != nil {
		return a, fmt.Errorf("app %s: reading its env: %w", a.Name, err)
	}
	return a, nil
}

// CreateApp inserts a; it reports false (and changes nothing) when an
// app of that name exists.
func (q Q) CreateApp(ctx context.Context, a App) (bool, error) {
	env, err := json.Marshal(orEmpty(a.Env))
	if err != nil {
		return false, err
	}
	n, err := q.exec(ctx, `INSERT INTO kiln_apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		a.Name, a.Image, a.Builder, string(env), a.CacheImage, a.SigningKey, a.WebhookSecret, a.Created)
	if err != nil {
		return false, fmt.Errorf("creating app %s: %w", a.Name, err)
	}
	return n == 1, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// GetApp reads one app; ErrNoRows when there is none.
func (q Q) GetApp(ctx context.Context, name string) (App, error) {
	return scanApp(q.queryRow(ctx, `SELECT `+appCols+` FROM kiln_apps WHERE name = ?`, name))
}

// ListApps reads every app, by name.
func (q Q) ListApps(ctx context.Context) ([]App, error) {
	rs, err := q.query(ctx, `SELECT `+appCols+` FROM kiln_apps ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing apps: %w", err)
	}
	defer rs.Close()
	var out []App
	for rs.Next() {
		a, err := scanApp(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rs.Err()
}

// UpdateApp writes a's settings (not its name or creation time); it
// reports false when there is no such app.
func (q Q) UpdateApp(ctx context.Context, a App) (bool, error) {
	env, err := json.Marshal(orEmpty(a.Env))
	if err != nil {
		return false, err
	}
	n, err := q.exec(ctx, `UPDATE kiln_apps SET image = ?, builder = ?, env = ?, cache_image = ?, signing_key = ?, webhook_secret = ? WHERE name = ?`,
		a.Image, a.Builder, string(env), a.CacheImage, a.SigningKey, a.WebhookSecret, a.Name)
	if err != nil {
		return false, fmt.Errorf("updating app %s: %w", a.Name, err)
	}
	return n == 1, nil
}

// DeleteApp removes an app with its tokens, builds, sources and logs; it
// reports false when there is no such app.
func (q Q) DeleteApp(ctx context.Context, name string) (bool, error) {
	for _, s := range []string{
		`DELETE FROM kiln_log_chunks WHERE build_id IN (SELECT id FROM kiln_builds WHERE app = ?)`,
		`DELETE FROM kiln_build_sources WHERE build_id IN (SELECT id FROM kiln_builds WHERE app = ?)`,
		`DELETE FROM kiln_build_credentials WHERE build_id IN (SELECT id FROM kiln_builds WHERE app = ?)`,
		`DELETE FROM kiln_builds WHERE app = ?`,
		`DELETE FROM kiln_deploy_tokens WHERE app = ?`,
	} {
		if _, err := q.exec(ctx, s, name); err != nil {
			return false, fmt.Errorf("deleting app %s: %w", name, err)
		}
	}
	n, err := q.exec(ctx, `DELETE FROM kiln_apps WHERE name = ?`, name)
	if err != nil {
		return false, fmt.Errorf("deleting app %s: %w", name, err)
	}
	return n == 1, nil
}

// AcquireLease makes build the holder of app's lease until the time
// until, when the lease is free, expired (before now) or build's already.
// It reports whether build holds it.
func (q Q) AcquireLease(ctx context.Context, app string, build, now, until int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE kiln_apps SET lease_build = ?, lease_until = ?
		WHERE name = ? AND (lease_build = 0 OR lease_until < ? OR lease_build = ?)`, build, until, app, now, build)
	if err != nil {
		return false, fmt.Errorf("taking the lease of app %s: %w", app, err)
	}
	return n == 1, nil
}

// RenewLease moves the end of build's lease on app to until; false when
// build no longer holds it.
func (q Q) RenewLease(ctx context.Context, app string, build, until int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE kiln_apps SET lease_until = ? WHERE name = ? AND lease_build = ?`, until, app, build)
	if err != nil {
		return false, fmt.Errorf("renewing the lease of app %s: %w", app, err)
	}
	return n == 1, nil
}

// ReleaseLease frees app's lease if build holds it.
func (q Q) ReleaseLease(ctx context.Context, app string, build int64) error {
	if _, err := q.exec(ctx, `UPDATE kiln_apps SET lease_build = 0, lease_until = 0 WHERE name = ? AND lease_build = ?`, app, build); err != nil {
		return fmt.Errorf("releasing the lease of app %s: %w", app, err)
	}
	return nil
}

// Lease reads who holds app's lease and until when.
func (q Q) Lease(ctx context.Context, app string) (build, until int64, err error) {
	err = q.queryRow(ctx, `SELECT lease_build, lease_until FROM kiln_apps WHERE name = ?`, app).Scan(&build, &until)
	return build, until, err
}
