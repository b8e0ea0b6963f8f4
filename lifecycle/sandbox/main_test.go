package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The rootless tests re-run this test binary in two stages: "bind" (still
// root, in a private mount namespace) gives the unprivileged user a
// subordinate id range by bind-mounting files over /etc/subuid and
// /etc/subgid, then starts stage "run" as that user, which calls Run with the
// request in envRequest and prints a helperResponse.
const (
	envStage   = "KILN_SANDBOX_TEST_STAGE"
	envRequest = "KILN_SANDBOX_TEST_REQUEST"
	envSubUID  = "KILN_SANDBOX_TEST_SUBUID"
	envSubGID  = "KILN_SANDBOX_TEST_SUBGID"
	envUser    = "KILN_SANDBOX_TEST_USER"
)

// helperRequest is what stage "run" does: Run(Config), cancelling the
// context once stdout holds CancelOn (when set).
type helperRequest struct {
	Config   Config
	CancelOn string
}

type helperResponse struct {
	Exit           int
	Err            string
	Cancelled      bool
	Stdout, Stderr string
	Warnings       []string // what Run told Config.Warn
}

// rootfs is the root file system the tests run the probe in, readable by
// everyone so the rootless tests can use it too.
var rootfs string

func TestMain(m *testing.M) {
	Supervise()
	switch os.Getenv(envStage) {
	case "bind":
		os.Exit(stageBind())
	case "run":
		os.Exit(stageRun())
	}
	dir, err := makeRootFS()
	if err != nil {
		fmt.Fprintln(os.Stderr, "preparing the test root file system:", err)
		os.Exit(1)
	}
	rootfs = dir
	code := m.Run()
	os.RemoveAll(filepath.Dir(dir))
	os.Exit(code)
}

// makeRootFS builds testdata/probe statically into a fresh root file system
// that holds the mount points the tests use.
func makeRootFS() (string, error) {
	top, err := os.MkdirTemp("", "kiln-sandbox-test-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(top, 0o755); err != nil {
		return "", err
	}
	root := filepath.Join(top, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc/ssl/certs", "kiln", "work", "data", "ro"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"etc/resolv.conf", "etc/hosts", "etc/ssl/certs/ca-certificates.crt", "kiln/ca-certificates.crt"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			return "", err
		}
	}
	goBin, err := exec.LookPath("go") // go test puts its own first on PATH
	if err != nil {
		return "", fmt.Errorf("finding the go command: %w", err)
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(root, "bin", "probe"), "./testdata/probe")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the probe with %s: %v\n%s", goBin, err, out)
	}
	return root, nil
}

// requireRuntime fails the test when runc is missing: the sandbox tests run
// real containers.
func requireRuntime(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(DefaultRuntime); err != nil {
		t.Fatalf("%s not found in PATH (%v): the sandbox tests start real containers; install runc (Debian package runc)", DefaultRuntime, err)
	}
}

// stageBind runs as root in a private mount namespace (see runRootless).
func stageBind() int {
	for _, m := range [][2]string{{os.Getenv(envSubUID), subUIDFile}, {os.Getenv(envSubGID), subGIDFile}} {
		src, dst := m[0], m[1]
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			fmt.Fprintf(os.Stderr, "bind-mounting %s over %s: %v\n", src, dst, err)
			return 1
		}
	}
	if err := shareTunDevice(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envStage+"=run")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var id uint32 = 65534
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: id, Gid: id, Groups: []uint32{}}}
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "running stage run:", err)
		return 1
	}
	return 0
}

// stageRun runs as the unprivileged user and calls Run.
func stageRun() int {
	var req helperRequest
	if err := json.Unmarshal([]byte(os.Getenv(envRequest)), &req); err != nil {
		fmt.Fprintln(os.Stderr, "decoding request:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	cfg := req.Config
	cfg.Stdout = &watchWriter{buf: &stdout, token: req.CancelOn, hit: cancel}
	cfg.Stderr = &stderr
	var warnings []string
	cfg.Warn = func(s string) { warnings = append(warnings, s) }
	code, err := Run(ctx, cfg)
	resp := helperResponse{Exit: code, Stdout: stdout.String(), Stderr: stderr.String(), Warnings: warnings}
	if err != nil {
		resp.Err = err.Error()
		resp.Cancelled = err == context.Canceled
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		return 1
	}
	return 0
}

// watchWriter collects output and calls hit once it contains token: proof
// that output arrives while the process still runs.
type watchWriter struct {
	mu    sync.Mutex
	buf   *bytes.Buffer
	token string
	hit   func()
	fired bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.token != "" && !w.fired && strings.Contains(w.buf.String(), w.token) {
		w.fired = true
		w.hit()
	}
	return n, err
}

var _ io.Writer = (*watchWriter)(nil)

// testSubIDs gives nobody 65536 subordinate ids from 200000.
const testSubIDs = "# test range\nnobody:200000:65536\n"

// runRootless runs req as uid 65534 (nobody) with the subordinate ranges
// testSubIDs and returns what Run returned there.
func runRootless(t *testing.T, req helperRequest) helperResponse {
	t.Helper()
	return runRootlessWith(t, req, testSubIDs)
}

// runRootlessWith runs req as nobody with subIDs as /etc/subuid and
// /etc/subgid.
func runRootlessWith(t *testing.T, req helperRequest, subIDs string) helperResponse {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("the rootless test starts an unprivileged user with a subordinate id range and needs to run as root to do so (euid is %d)", os.Geteuid())
	}
	dir := publicTempDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	copyFile(t, self, bin, 0o755)
	ranges := filepath.Join(dir, "subids")
	if err := os.WriteFile(ranges, []byte(subIDs), 0o644); err != nil {
		t.Fatal(err)
	}
	reqJSON, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/nonexistent",
		envStage + "=bind",
		envSubUID + "=" + ranges,
		envSubGID + "=" + ranges,
		envRequest + "=" + string(reqJSON),
	}
	if v, ok := os.LookupEnv("GORACE"); ok {
		// Under -race, make test sets atexit_sleep_ms=0: else every
		// exit of this binary, here and as the supervisor, costs 1 s.
		cmd.Env = append(cmd.Env, "GORACE="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rootless helper: %v\nstderr:\n%s", err, stderr.String())
	}
	var resp helperResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("rootless helper output %q: %v\nstderr:\n%s", out, err, stderr.String())
	}
	return resp
}

// publicTempDir is a temporary directory everyone may enter (t.TempDir's
// parent is private to the test's user).
func publicTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kiln-sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
