package store

import (
	"context"
	"fmt"
)

// Build is one row of kiln_builds.
type Build struct {
	ID                         int64
	App, Status, Trigger       string
	GitURL, Ref, Commit        string
	Image, Digest, Phase       string
	ExitCode                   int
	Reason                     string
	Phases                     string // JSON array of phase timings
	Created, Started, Finished int64  // Unix ms, 0 when unset
	Heartbeat                  int64  // Unix ms of the running worker's last sign of life
	Attempt                    int
	JobID                      int64  // River job that runs it now
	RunID                      string // the running attempt's id: only it may heartbeat or finish
	Worker                     string
	CancelRequested            bool
	LogSize                    int64
}

const buildCols = `id, app, status, trigger_kind, git_url, ref, commit_sha, image, digest, phase, exit_code, reason, phases,
	created, started, finished, heartbeat, attempt, job_id, run_id, worker, cancel_requested, log_size`

func scanBuild(r interface{ Scan(...any) error }) (Build, error) {
	var b Build
	var cancel int
	err := r.Scan(&b.ID, &b.App, &b.Status, &b.Trigger, &b.GitURL, &b.Ref, &b.Commit, &b.Image, &b.Digest, &b.Phase,
		&b.ExitCode, &b.Reason, &b.Phases, &b.Created, &b.Started, &b.Finished, &b.Heartbeat, &b.Attempt, &b.JobID,
		&b.RunID, &b.Worker, &cancel, &b.LogSize)
	b.CancelRequested = cancel != 0
	return b, err
}

// InsertBuild records a new build (status, trigger, source fields and
// creation time from b) and returns its id.
func (q Q) InsertBuild(ctx context.Context, b Build) (int64, error) {
	var id int64
	err := q.queryRow(ctx, `INSERT INTO kiln_builds (app, status, trigger_kind, git_url, ref, commit_sha, created, attempt)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1) RETURNING id`, b.App, b.Status, b.Trigger, b.GitURL, b.Ref, b.Commit, b.Created).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("recording a build of %s: %w", b.App, err)
	}
	return id, nil
}

// SetJob records the River job that runs build id.
func (q Q) SetJob(ctx context.Context, id, job int64) error {
	if _, err := q.exec(ctx, `UPDATE kiln_builds SET job_id = ? WHERE id = ?`, job, id); err != nil {
		return fmt.Errorf("recording the job of build %d: %w", id, err)
	}
	return nil
}

// GetBuild reads one build; ErrNoRows when there is none.
func (q Q) GetBuild(ctx context.Context, id int64) (Build, error) {
	return scanBuild(q.queryRow(ctx, `SELECT `+buildCols+` FROM kiln_builds WHERE id = ?`, id))
}

func (q Q) builds(ctx context.Context, s string, args ...any) ([]Build, error) {
	rs, err := q.query(ctx, `SELECT `+buildCols+` FROM kiln_builds `+s, args...)
	if err != nil {
		return nil, fmt.Errorf("listing builds: %w", err)
	}
	defer rs.Close()
	var out []Build
	for rs.Next() {
		b, err := scanBuild(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rs.Err()
}

// ListBuilds reads app's latest builds, newest first, at most limit.
func (q Q) ListBuilds(ctx context.Context, app string, limit int) ([]Build, error) {
	return q.builds(ctx, `WHERE app = ? ORDER BY id DESC LIMIT ?`, app, limit)
}

// QueuedBuilds reads app's builds still queued.
func (q Q) QueuedBuilds(ctx context.Context, app string) ([]Build, error) {
	return q.builds(ctx, `WHERE app = ? AND status = 'queued' ORDER BY id`, app)
}

// StaleBuilds reads the running builds whose last heartbeat is before
// cutoff.
func (q Q) StaleBuilds(ctx context.Context, cutoff int64) ([]Build, error) {
	return q.builds(ctx, `WHERE status = 'running' AND heartbeat < ? ORDER BY id`, cutoff)
}

// HasNewer reports whether app has a build started after build id.
func (q Q) HasNewer(ctx context.Context, app string, id int64) (bool, error) {
	var n int
	if err := q.queryRow(ctx, `SELECT COUNT(*) FROM kiln_builds WHERE app = ? AND id > ?`, app, id).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// HasSucceeded reports whether a build of app ever succeeded (published
// an image), however many builds came after it.
func (q Q) HasSucceeded(ctx context.Context, app string) (bool, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM kiln_builds WHERE app = ? AND status = 'succeeded' LIMIT 1) AS s`, app).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("reading the builds of %s: %w", app, err)
	}
	return n > 0, nil
}

// EndQueued moves build id from queued to the final status (superseded,
// canceled) at time now; false when it was not queued any more.
func (q Q) EndQueued(ctx context.Context, id int64, status, reason string, now int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE kiln_builds SET status = ?, reason = ?, finished = ? WHERE id = ? AND status = 'queued'`, status, reason, now, id)
	if err != nil {
		return false, fmt.Errorf("ending build %d: %w", id, err)
	}
	return n == 1, nil
}

// MarkRunning moves build id, queued for job, to running under runID; false
// when it is not queued for that job any more.
func (q Q) MarkRunning(ctx context.Context, id, job int64, runID, worker string, now int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE kiln_builds SET status = 'running', started = ?, heartbeat = ?, run_id = ?, worker = ?
		WHERE id = ? AND status = 'queued' AND job_id = ?`, now, now, runID, worker, id, job)
	if err != nil {
		return false, fmt.Errorf("starting build %d: %w", id, err)
	}
	return n == 1, nil
}

// Heartbeat records that runID still runs build id. alive is false when
// the build is no longer running under runID (it was reaped or deleted);
// cancel is whether a cancel was requested.
func (q Q) Heartbeat(ctx context.Context, id int64, runID string, now int64) (alive, cancel bool, err error) {
	var c int
	err = q.queryRow(ctx, `UPDATE kiln_builds SET heartbeat = ? WHERE id = ? AND status = 'running' AND run_id = ?
		RETURNING cancel_requested`, now, id, runID).Scan(&c)
	if err == ErrNoRows {
		return false, false, nil
	}
	return err == nil, c != 0, err
}

// RequestCancel asks the worker running build id to stop it; false when
// it is not running.
func (q Q) RequestCancel(ctx context.Context, id int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE kiln_builds SET cancel_requested = 1 WHERE id = ? AND status = 'running'`, id)
	return n == 1, err
}

// Final is how a build ended.
type Final struct {
	Status, Image, Digest, Phase, Reason string
	ExitCode                             int
	Phases                               string // JSON; "" keeps what is recorded
	Finished                             int64
}

// Finish records how build id, running under runID, ended; false when it
// is no longer running under runID.
func (q Q) Finish(ctx context.Context, id int64, runID string, f Final) (bool, error) {
	s := `UPDATE kiln_builds SET status = ?, image = ?, digest = ?, phase = ?, reason = ?, exit_code = ?, finished = ?`
	args := []any{f.Status, f.Image, f.Digest, f.Phase, f.Reason, f.ExitCode, f.Finished}
	if f.Phases != "" {
		s += `, phases = ?`
		args = append(args, f.Phases)
	}
	n, err := q.exec(ctx, s+` WHERE id = ? AND status = 'running' AND run_id = ?`, append(args, id, runID)...)
	if err != nil {
		return false, fmt.Errorf("finishing build %d: %w", id, err)
	}
	return n == 1, nil
}

// Requeue moves build id, running under runID, back to queued as attempt
// for job; false when it is no longer running under runID.
func (q Q) Requeue(ctx context.Context, id int64, runID string, attempt int, job int64) (bool, error) {
	n, err := q.exec(ctx, `UPDATE kiln_builds SET status = 'queued', attempt = ?, job_id = ?, run_id = '', worker = '',
		heartbeat = 0, cancel_requested = 0 WHERE id = ? AND status = 'running' AND run_id = ?`, attempt, job, id, runID)
	if err != nil {
		return false, fmt.Errorf("re-queueing build %d: %w", id, err)
	}
	return n == 1, nil
}

// PutSource stores build id's source tarball.
func (q Q) PutSource(ctx context.Context, id int64, data []byte) error {
	if _, err := q.exec(ctx, `INSERT INTO kiln_build_sources (build_id, data) VALUES (?, ?)`, id, data); err != nil {
		return fmt.Errorf("storing the source of build %d: %w", id, err)
	}
	return nil
}

// GetSource reads build id's source tarball; ErrNoRows when it has none.
func (q Q) GetSource(ctx context.Context, id int64) ([]byte, error) {
	var data []byte
	err := q.queryRow(ctx, `SELECT data FROM kiln_build_sources WHERE build_id = ?`, id).Scan(&data)
	return data, err
}

// DeleteSource drops build id's source tarball and git credentials, if
// any.
func (q Q) DeleteSource(ctx context.Context, id int64) error {
	if _, err := q.exec(ctx, `DELETE FROM kiln_build_sources WHERE build_id = ?`, id); err != nil {
		return err
	}
	_, err := q.exec(ctx, `DELETE FROM kiln_build_credentials WHERE build_id = ?`, id)
	return err
}

// PutCredentials keeps the credentials (URL userinfo) of build id's git
// URL until DeleteSource.
func (q Q) PutCredentials(ctx context.Context, id int64, userinfo string) error {
	if _, err := q.exec(ctx, `INSERT INTO kiln_build_credentials (build_id, userinfo) VALUES (?, ?)`, id, userinfo); err != nil {
		return fmt.Errorf("storing the git credentials of build %d: %w", id, err)
	}
	return nil
}

// GetCredentials reads build id's git credentials; "" when it has none.
func (q Q) GetCredentials(ctx context.Context, id int64) (string, error) {
	var v string
	err := q.queryRow(ctx, `SELECT userinfo FROM kiln_build_credentials WHERE build_id = ?`, id).Scan(&v)
	if err == ErrNoRows {
		return "", nil
	}
	return v, err
}

// RunState reports whether build id still runs under runID, and whether
// a cancel was requested.
func (q Q) RunState(ctx context.Context, id int64, runID string) (alive, cancel bool, err error) {
	var status, run string
	var c int
	err = q.queryRow(ctx, `SELECT status, run_id, cancel_requested FROM kiln_builds WHERE id = ?`, id).Scan(&status, &run, &c)
	if err == ErrNoRows {
		return false, false, nil
	}
	return err == nil && status == "running" && run == runID, c != 0, err
}

// SetCommit records the commit a build's source was checked out at.
func (q Q) SetCommit(ctx context.Context, id int64, commit string) error {
	_, err := q.exec(ctx, `UPDATE kiln_builds SET commit_sha = ? WHERE id = ?`, commit, id)
	return err
}

// The statuses of a build as kiln_builds holds them (service.Status
// names them for the API).
const (
	StatusQueued     = "queued"
	StatusRunning    = "running"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusCanceled   = "canceled"
	StatusSuperseded = "superseded"
)
