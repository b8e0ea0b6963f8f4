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
	// RebuildOnBuilderChange asks for a rebuild of the app's last
	// successful source when its builder's image changes.
	RebuildOnBuilderChange bool
}

const appCols = `name, image, builder, env, cache_image, signing_key, webhook_secret, created, rebuild_on_builder_change`

func scanApp(r interface{ Scan(...any) error }) (App, error) {
	var a App
	var env string
	var rebuild int
	if err := r.Scan(&a.Name, &a.Image, &a.Builder, &env, &a.CacheImage, &a.SigningKey, &a.WebhookSecret, &a.Created, &rebuild); err != nil {
		return a, err
	}
	a.RebuildOnBuilderChange = rebuild != 0
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
	n, err := q.exec(ctx, `INSERT INTO kiln_apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		a.Name, a.Image, a.Builder, string(env), a.CacheImage, a.SigningKey, a.WebhookSecret, a.Created, flag(a.RebuildOnBuilderChange))
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

// LockApp holds app's row until the transaction ends, so that processes
// deciding what to queue for one app (supersede a queued build, skip a
// rebase because a build is unfinished) take turns instead of both
// seeing nothing queued. An unknown app is ErrNoRows. Outside a
// transaction it locks nothing.
func (q Q) LockApp(ctx context.Context, name string) error {
	lock := ""
	if q.d == Postgres {
		lock = " FOR UPDATE"
	}
	// SQLite's transactions already take turns: they begin immediate,
	// on one connection (Open).
	var n int64
	return q.queryRow(ctx, `SELECT 1 FROM kiln_apps WHERE name = ?`+lock, name).Scan(&n)
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
	n, err := q.exec(ctx, `UPDATE kiln_apps SET image = ?, builder = ?, env = ?, cache_image = ?, signing_key = ?, webhook_secret = ?,
		rebuild_on_builder_change = ? WHERE name = ?`,
		a.Image, a.Builder, string(env), a.CacheImage, a.SigningKey, a.WebhookSecret, flag(a.RebuildOnBuilderChange), a.Name)
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
		`DELETE FROM kiln_app_sources WHERE app = ?`,
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

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AppSource is the source of an app's last successful build, kept for a
// rebuild: the tarball, or a git URL (without credentials), ref and
// commit.
type AppSource struct {
	App, GitURL, Ref, Commit string
	BuildID                  int64
	Data                     []byte
}

// KeepAppSource records build b's source as its app's last successful
// one: the tarball the build still holds, or its git URL, ref and commit.
func (q Q) KeepAppSource(ctx context.Context, b Build) error {
	if _, err := q.exec(ctx, `DELETE FROM kiln_app_sources WHERE app = ?`, b.App); err != nil {
		return fmt.Errorf("keeping the source of app %s: %w", b.App, err)
	}
	// The tarball (NULL for a git URL build) is copied in the database,
	// not read out and written back.
	_, err := q.exec(ctx, `INSERT INTO kiln_app_sources (app, build_id, git_url, ref, commit_sha, data)
		VALUES (?, ?, ?, ?, ?, (SELECT data FROM kiln_build_sources WHERE build_id = ?))`,
		b.App, b.ID, b.GitURL, b.Ref, b.Commit, b.ID)
	if err != nil {
		return fmt.Errorf("keeping the source of app %s: %w", b.App, err)
	}
	return nil
}

// GetAppSource reads app's kept source; ErrNoRows when none is kept.
func (q Q) GetAppSource(ctx context.Context, app string) (AppSource, error) {
	s := AppSource{App: app}
	err := q.queryRow(ctx, `SELECT build_id, git_url, ref, commit_sha, data FROM kiln_app_sources WHERE app = ?`, app).
		Scan(&s.BuildID, &s.GitURL, &s.Ref, &s.Commit, &s.Data)
	return s, err
}

// DropAppSource forgets app's kept source.
func (q Q) DropAppSource(ctx context.Context, app string) error {
	_, err := q.exec(ctx, `DELETE FROM kiln_app_sources WHERE app = ?`, app)
	return err
}
