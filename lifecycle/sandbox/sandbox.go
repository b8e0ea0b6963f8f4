package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Capability numbers from <linux/capability.h>.
const (
	capDacOverride = 1
	capKill        = 5
	capSetgid      = 6
	capSetuid      = 7
)

// Timeouts of the shutdown path.
const (
	// killGrace is how long the supervisor gets to kill and delete the
	// container after ctx is done before it is killed itself.
	killGrace = 10 * time.Second
	// drainGrace bounds the wait for the output pipes to reach EOF once
	// the supervisor has exited.
	drainGrace = 5 * time.Second
)

// Run runs cfg.Args in a new container and waits for it to exit. exitCode is
// the process's exit status, or 128+n when signal n ended it. err reports a
// failure of the sandbox itself (bad config, missing runtime, the runtime
// failing to create the container, cleanup failing), in which case exitCode
// is -1 unless the process ran. When ctx is done the container is killed and
// deleted and Run returns ctx.Err().
func Run(ctx context.Context, cfg Config) (exitCode int, err error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if !supervised.Load() {
		return -1, errNotSupervised
	}
	if err := cfg.validate(); err != nil {
		return -1, err
	}
	name := cfg.Runtime
	if name == "" {
		name = DefaultRuntime
	}
	runtimePath, err := exec.LookPath(name)
	if err != nil {
		return -1, fmt.Errorf("sandbox: finding the OCI runtime %q (install runc or name another runtime): %w", name, err)
	}
	abs, err := filepath.Abs(runtimePath)
	if err != nil {
		return -1, fmt.Errorf("sandbox: resolving runtime path %s: %w", runtimePath, err)
	}
	runtimePath = abs

	rootless := os.Geteuid() != 0
	slirpPath, err := lookupSlirp(cfg.networkMode(), rootless)
	if err != nil {
		return -1, err
	}
	var uidMaps, gidMaps []idMap
	if rootless {
		if uidMaps, gidMaps, err = rootlessMaps(cfg); err != nil {
			return -1, err
		}
	}

	stateDir, removeState, err := prepareStateDir(cfg.StateDir, rootless)
	if err != nil {
		return -1, err
	}
	defer removeState()

	bundle, err := os.MkdirTemp(cfg.TempDir, "kiln-sandbox-")
	if err != nil {
		return -1, fmt.Errorf("sandbox: creating bundle directory: %w", err)
	}
	defer os.RemoveAll(bundle)
	id, err := newID()
	if err != nil {
		return -1, err
	}
	mode, releaseIDs, err := confinement(ctx, &cfg, rootless, id)
	if err != nil {
		return -1, err
	}
	defer releaseIDs()
	logPath, err := writeBundle(&cfg, bundle, &mode)
	defer mode.staged.remove()
	if err != nil {
		return -1, err
	}
	params := supervisorParams{
		Runtime:  runtimePath,
		Global:   []string{"--root", stateDir, "--log", logPath, "--log-format", "json"},
		ID:       id,
		Bundle:   bundle,
		PidFile:  filepath.Join(bundle, "container.pid"),
		Rootless: rootless,
		Slirp:    slirpPath,
	}
	if mode.staged != nil {
		params.Binds = mode.staged.binds
		params.StageLock = mode.staged.lockPath()
	}
	arg, err := json.Marshal(params)
	if err != nil {
		return -1, fmt.Errorf("sandbox: encoding supervisor parameters: %w", err)
	}

	// Host ids that own the stdio pipes: the process's own, so that it
	// can also reopen them as /dev/stdout and friends.
	owner := [2]int{mode.ids.HostUID(cfg.UID), mode.ids.HostGID(cfg.GID)}
	if rootless {
		owner = [2]int{os.Geteuid(), os.Getegid()}
	}
	pipes, err := newStdio(cfg, owner)
	if err != nil {
		return -1, err
	}
	defer pipes.closeAll()

	resultR, resultW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("sandbox: creating result pipe: %w", err)
	}
	defer resultR.Close()
	extra := []*os.File{resultW}
	var syncW *os.File
	if rootless {
		var syncR *os.File
		if syncR, syncW, err = os.Pipe(); err != nil {
			resultW.Close()
			return -1, fmt.Errorf("sandbox: creating sync pipe: %w", err)
		}
		defer syncW.Close()
		extra = append(extra, syncR)
	}

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{supervisorArg0, string(arg)},
		Stdin:      pipes.childIn,
		Stdout:     pipes.childOut,
		Stderr:     pipes.childErr,
		ExtraFiles: extra,
		// Its own process group, so a terminal's ^C reaches only the
		// caller, which then cancels ctx; SIGTERM, as on cancel,
		// should the caller die first.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM},
	}
	if len(params.Binds) > 0 {
		// A mount namespace of its own for the binds (see stage).
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNS
	}
	if rootless {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		// The supervisor starts before its id maps exist, so exec
		// would drop the capabilities it holds in its new namespace.
		// As ambient capabilities these survive: enough to become the
		// namespace's root once the maps are written, to read the
		// runtime's pid file and to kill the container's process, and
		// to close the host's addresses to the container's network
		// namespace (see blockHostAddrs). The runtime it starts as
		// root gets the namespace's full set.
		cmd.SysProcAttr.AmbientCaps = append([]uintptr{capDacOverride, capKill, capSetgid, capSetuid}, netSetupCaps...)
	}
	startErr := cmd.Start()
	for _, f := range extra {
		f.Close()
	}
	pipes.closeChildEnds()
	if startErr != nil {
		return -1, fmt.Errorf("sandbox: starting the supervisor: %w", startErr)
	}
	if rootless {
		if err := writeIDMaps(ctx, cmd.Process.Pid, uidMaps, gidMaps); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, err
		}
		if _, err := syncW.Write([]byte{1}); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return -1, fmt.Errorf("sandbox: releasing the supervisor: %w", err)
		}
		syncW.Close()
	}

	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-stop:
			case <-time.After(killGrace):
				_ = cmd.Process.Kill()
			}
		case <-stop:
		}
	}()
	waitErr := cmd.Wait()
	close(stop)
	resultJSON, _ := io.ReadAll(resultR)
	pipes.drain(drainGrace)

	var res supervisorResult
	if len(bytes.TrimSpace(resultJSON)) == 0 || json.Unmarshal(resultJSON, &res) != nil {
		if ctx.Err() != nil {
			if !rootless {
				// The supervisor did not get to clean up; try once.
				_ = params.runtime("kill", id, "KILL")
				_ = params.delete()
			}
			return -1, ctx.Err()
		}
		return -1, fmt.Errorf("sandbox: supervisor of container %s ended without a result (%v)%s", id, waitErr, logSuffix(logPath))
	}
	return res.outcome(ctx, id, logPath)
}

// writeBundle writes the bundle's config.json, the mode-1777 directory bound
// under /tmp (see specMode) and an empty runtime log, whose path it returns.
func writeBundle(cfg *Config, bundle string, m *specMode) (logPath string, err error) {
	m.tmpModeDir = filepath.Join(bundle, "tmp-mode")
	if err := os.Mkdir(m.tmpModeDir, 0o700); err != nil {
		return "", fmt.Errorf("sandbox: creating %s: %w", m.tmpModeDir, err)
	}
	if err := os.Chmod(m.tmpModeDir, 0o777|os.ModeSticky); err != nil {
		return "", fmt.Errorf("sandbox: setting the mode of %s: %w", m.tmpModeDir, err)
	}
	if m.resolvConf, m.hosts, err = writeNetworkFiles(cfg, bundle); err != nil {
		return "", err
	}
	spec := buildSpec(cfg, *m)
	if m.ids != nil {
		if err := makeMountPoints(spec); err != nil {
			return "", err
		}
		if m.staged, err = stage(spec, filepath.Base(bundle)); err != nil {
			return "", err
		}
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("sandbox: encoding runtime spec: %w", err)
	}
	configPath := filepath.Join(bundle, "config.json")
	if err := os.WriteFile(configPath, specJSON, 0o600); err != nil {
		return "", fmt.Errorf("sandbox: writing %s: %w", configPath, err)
	}
	logPath = filepath.Join(bundle, "runtime.log")
	if err := os.WriteFile(logPath, nil, 0o600); err != nil {
		return "", fmt.Errorf("sandbox: creating %s: %w", logPath, err)
	}
	return logPath, nil
}

// outcome turns the supervisor's report into Run's results.
func (res supervisorResult) outcome(ctx context.Context, id, logPath string) (int, error) {
	if res.Cancelled {
		if err := ctx.Err(); err != nil {
			return -1, err
		}
		return -1, fmt.Errorf("sandbox: container %s was killed by a signal to its supervisor", id)
	}
	code := -1
	if res.Started && res.Error == "" {
		code = res.ExitCode
		if res.Signal != 0 {
			code = 128 + res.Signal
		}
	}
	switch {
	case res.Error != "":
		return code, fmt.Errorf("sandbox: %s%s", res.Error, logSuffix(logPath))
	case res.Cleanup != "":
		return code, fmt.Errorf("sandbox: deleting container %s: %s", id, res.Cleanup)
	}
	return code, nil
}

// logSuffix returns ": " and the runtime's logged errors, or "".
func logSuffix(logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	errs := runtimeErrors(b)
	if len(errs) == 0 {
		return ""
	}
	return ": " + strings.Join(errs, "; ")
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sandbox: making a container id: %w", err)
	}
	return "kiln-" + hex.EncodeToString(b[:]), nil
}

// prepareStateDir returns the runtime state directory and a function that
// removes it if it was made just for this run.
func prepareStateDir(dir string, rootless bool) (string, func(), error) {
	noop := func() {}
	if dir == "" {
		switch xdg := os.Getenv("XDG_RUNTIME_DIR"); {
		case !rootless:
			dir = "/run/kiln/runc"
		case xdg != "" && isDir(xdg):
			dir = filepath.Join(xdg, "kiln", "runc")
		default:
			tmp, err := os.MkdirTemp("", "kiln-runc-")
			if err != nil {
				return "", noop, fmt.Errorf("sandbox: creating runtime state directory: %w", err)
			}
			return tmp, func() { os.RemoveAll(tmp) }, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", noop, fmt.Errorf("sandbox: creating runtime state directory %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", noop, fmt.Errorf("sandbox: resolving runtime state directory %s: %w", dir, err)
	}
	return abs, noop, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// runningInUserNS reports whether this process is in a user namespace other
// than the host's.
var runningInUserNS = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
})

// rootlessMaps computes the user namespace's id maps for the calling user.
func rootlessMaps(cfg Config) (uids, gids []idMap, err error) {
	s, err := rootlessCaller()
	if err != nil {
		return nil, nil, err
	}
	return userNSMaps(s, cfg.UID, cfg.GID, cfg.AdditionalGIDs)
}

// rootlessCaller looks up the calling user's name and subordinate ids, once.
var rootlessCaller = sync.OnceValues(func() (subIDs, error) {
	euid := uint32(os.Geteuid())
	name := strconv.FormatUint(uint64(euid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	files, err := readSubIDFiles()
	return subIDs{user: name, hostUID: euid, hostGID: uint32(os.Getegid()), uids: files.uids, gids: files.gids}, err
})

// writeIDMaps writes the supervisor's user namespace maps: directly when a
// map only holds the caller's own id, else through the setuid helpers
// newuidmap and newgidmap, which check /etc/subuid and /etc/subgid.
func writeIDMaps(ctx context.Context, pid int, uids, gids []idMap) error {
	proc := "/proc/" + strconv.Itoa(pid)
	if ownOnly(uids, uint32(os.Geteuid())) {
		if err := writeProcFile(proc+"/uid_map", uids); err != nil {
			return err
		}
	} else if err := runMapHelper(ctx, "newuidmap", pid, uids); err != nil {
		return err
	}
	if ownOnly(gids, uint32(os.Getegid())) {
		if err := os.WriteFile(proc+"/setgroups", []byte("deny"), 0); err != nil {
			return fmt.Errorf("sandbox: writing %s/setgroups: %w", proc, err)
		}
		return writeProcFile(proc+"/gid_map", gids)
	}
	return runMapHelper(ctx, "newgidmap", pid, gids)
}

func ownOnly(maps []idMap, host uint32) bool {
	return len(maps) == 1 && maps[0].outside == host && maps[0].count == 1
}

func writeProcFile(p string, maps []idMap) error {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.inside, m.outside, m.count)
	}
	if err := os.WriteFile(p, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("sandbox: writing %s: %w", p, err)
	}
	return nil
}

func runMapHelper(ctx context.Context, helper string, pid int, maps []idMap) error {
	path, err := exec.LookPath(helper)
	if err != nil {
		return fmt.Errorf("sandbox: rootless runs as a non-root uid or gid need %s (package uidmap): %w", helper, err)
	}
	args := append([]string{strconv.Itoa(pid)}, mapArgs(maps)...)
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sandbox: %s %s: %w: %s", helper, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stdio holds the pipes between the caller's streams and the container.
type stdio struct {
	childIn, childOut, childErr *os.File // the ends the container gets
	outR, errR                  *os.File // the ends copied to the caller
	copies                      sync.WaitGroup
	closeOnce                   sync.Once
}

// newStdio makes the process's stdio: pipes owned by owner (host uid, gid)
// whose read ends are copied to cfg.Stdout and cfg.Stderr as data arrives,
// and cfg.Stdin (or /dev/null) behind another pipe.
func newStdio(cfg Config, owner [2]int) (*stdio, error) {
	s := &stdio{}
	fail := func(step string, err error) (*stdio, error) {
		s.closeAll()
		s.closeChildEnds()
		return nil, fmt.Errorf("sandbox: %s: %w", step, err)
	}
	var err error
	if cfg.Stdin == nil {
		if s.childIn, err = os.Open(os.DevNull); err != nil {
			return fail("opening "+os.DevNull, err)
		}
	} else {
		r, w, err := os.Pipe()
		if err != nil {
			return fail("creating stdin pipe", err)
		}
		s.childIn = r
		if err := r.Chown(owner[0], owner[1]); err != nil {
			w.Close()
			return fail("handing the stdin pipe to the process's user", err)
		}
		// Not waited for: a blocked Read of cfg.Stdin cannot be
		// interrupted; closing w once it returns ends the input.
		go func() {
			_, _ = io.Copy(w, cfg.Stdin)
			w.Close()
		}()
	}
	stdout, stderr := cfg.Stdout, cfg.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if sameWriter(stdout, stderr) && stdout != io.Discard {
		lw := &lockedWriter{w: stdout}
		stdout, stderr = lw, lw
	}
	if s.outR, s.childOut, err = os.Pipe(); err != nil {
		return fail("creating stdout pipe", err)
	}
	if s.errR, s.childErr, err = os.Pipe(); err != nil {
		return fail("creating stderr pipe", err)
	}
	for _, f := range []*os.File{s.childOut, s.childErr} {
		if err := f.Chown(owner[0], owner[1]); err != nil {
			return fail("handing the output pipes to the process's user", err)
		}
	}
	s.copies.Add(2)
	go s.copy(stdout, s.outR)
	go s.copy(stderr, s.errR)
	return s, nil
}

func (s *stdio) copy(w io.Writer, r *os.File) {
	defer s.copies.Done()
	_, _ = io.Copy(w, r)
}

// closeChildEnds closes this process's copies of the container's ends, so
// the readers see EOF when the container's side closes.
func (s *stdio) closeChildEnds() {
	for _, f := range []*os.File{s.childIn, s.childOut, s.childErr} {
		if f != nil {
			f.Close()
		}
	}
}

// drain waits for the output copies to finish, at most d; after that the
// read ends are closed so the copies stop.
func (s *stdio) drain(d time.Duration) {
	done := make(chan struct{})
	go func() { s.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		s.closeAll()
		<-done
	}
}

func (s *stdio) closeAll() {
	s.closeOnce.Do(func() {
		for _, f := range []*os.File{s.outR, s.errR} {
			if f != nil {
				f.Close()
			}
		}
	})
}

// sameWriter reports whether a and b are the same comparable writer.
func sameWriter(a, b io.Writer) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var _ io.Writer = (*lockedWriter)(nil)
