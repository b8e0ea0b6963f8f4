package sandbox

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Ids the container process runs as: deliberately not 1000.
const (
	testUID = 4321
	testGID = 5432
)

const zeroCaps = `CapInh: 0000000000000000
CapPrm: 0000000000000000
CapEff: 0000000000000000
CapBnd: 0000000000000000
CapAmb: 0000000000000000
NoNewPrivs: 1
`

func TestRun(t *testing.T) {
	requireRuntime(t)
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(bundle, []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		config     func(c *Config, dirs testDirs)
		wantCode   int
		wantStdout string
		wantStderr string // compared after the probe's error text is cut to its last ": " part
		check      func(t *testing.T, dirs testDirs)
	}{{
		name:       "runs as the given uid, gid and groups",
		args:       []string{"id"},
		config:     func(c *Config, _ testDirs) { c.AdditionalGIDs = []uint32{7777, 8888} },
		wantStdout: "uid=4321 gid=5432 groups=7777 8888\n",
	}, {
		name:       "no capabilities and no new privileges",
		args:       []string{"caps"},
		wantStdout: zeroCaps,
	}, {
		name:       "root file system is read-only",
		args:       []string{"write", "/probe-was-here", "x"},
		wantCode:   3,
		wantStderr: "read-only file system\n",
		check: func(t *testing.T, _ testDirs) {
			if _, err := os.Stat(filepath.Join(rootfs, "probe-was-here")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("file written to the root file system: %v", err)
			}
		},
	}, {
		name: "writable mount is seen on the host",
		args: []string{"write", "/work/out.txt", "hello"},
		check: func(t *testing.T, d testDirs) {
			got, err := os.ReadFile(filepath.Join(d.work, "out.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("hello", string(got)); diff != "" {
				t.Errorf("host file (-want +got):\n%s", diff)
			}
		},
	}, {
		name:       "read-only mount refuses writes",
		args:       []string{"write", "/ro/out.txt", "hello"},
		wantCode:   3,
		wantStderr: "read-only file system\n",
	}, {
		name:       "tmp is a fresh tmpfs with mode 1777",
		args:       []string{"mode", "/tmp"},
		wantStdout: "1777\n",
	}, {
		name: "tmp is writable",
		args: []string{"write", "/tmp/x", "y"},
	}, {
		name: "env and cwd",
		args: []string{"getenv", "FOO", "PATH"},
		config: func(c *Config, _ testDirs) {
			c.Env = []string{"FOO=bar baz"}
			c.Cwd = "/work"
		},
		wantStdout: "FOO=bar baz\nPATH=" + DefaultPath + "\n",
	}, {
		name:       "cwd",
		args:       []string{"pwd"},
		config:     func(c *Config, _ testDirs) { c.Cwd = "/work" },
		wantStdout: "/work\n",
	}, {
		name:       "hostname",
		args:       []string{"hostname"},
		config:     func(c *Config, _ testDirs) { c.Hostname = "builder" },
		wantStdout: "builder\n",
	}, {
		name:       "host resolv.conf with the host's network",
		args:       []string{"cat", "/etc/resolv.conf"},
		config:     func(c *Config, _ testDirs) { c.Network = NetworkHost },
		wantStdout: string(hostResolv),
	}, {
		name:       "masked proc file",
		args:       []string{"kind", "/proc/keys"},
		wantStdout: "char device\n",
	}, {
		name:       "read-only proc/sys",
		args:       []string{"write", "/proc/sys/kernel/hostname", "x"},
		wantCode:   3,
		wantStderr: "read-only file system\n",
	}, {
		name:       "CA bundle at the fixed path",
		args:       []string{"cat", CABundlePath},
		config:     func(c *Config, _ testDirs) { c.CABundle = bundle },
		wantStdout: "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n",
	}, {
		name:       "CA bundle at the system path",
		args:       []string{"cat", SystemCABundlePath},
		config:     func(c *Config, _ testDirs) { c.CABundle = bundle },
		wantStdout: "-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n",
	}, {
		name: "CA variables point at the bundle unless set",
		args: append([]string{"getenv"}, CAEnv...),
		config: func(c *Config, _ testDirs) {
			c.CABundle = bundle
			c.Env = []string{"PIP_CERT=/mine.pem"}
		},
		wantStdout: "SSL_CERT_FILE=/kiln/ca-certificates.crt\n" +
			"NODE_EXTRA_CA_CERTS=/kiln/ca-certificates.crt\n" +
			"REQUESTS_CA_BUNDLE=/kiln/ca-certificates.crt\n" +
			"CURL_CA_BUNDLE=/kiln/ca-certificates.crt\n" +
			"GIT_SSL_CAINFO=/kiln/ca-certificates.crt\n" +
			"PIP_CERT=/mine.pem\n",
	}, {
		name:       "no CA variables without a bundle",
		args:       []string{"getenv", "SSL_CERT_FILE"},
		wantStdout: "SSL_CERT_FILE=\n",
	}, {
		name:       "non-zero exit code, stdout and stderr apart",
		args:       []string{"exit", "42"},
		wantCode:   42,
		wantStdout: "out\n",
		wantStderr: "err\n",
	}, {
		name:       "stdio can be reopened by the non-root process",
		args:       []string{"reopen"},
		wantStdout: "via /dev/stdout\n",
		wantStderr: "via /dev/stderr\n",
	}, {
		name:       "stdin",
		args:       []string{"cat", "/dev/stdin"},
		config:     func(c *Config, _ testDirs) { c.Stdin = strings.NewReader("fed in\n") },
		wantStdout: "fed in\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirs := newTestDirs(t, testUID, testGID)
			cfg := baseConfig(t, dirs)
			cfg.Args = append([]string{"/bin/probe"}, tt.args...)
			if tt.config != nil {
				tt.config(&cfg, dirs)
			}
			var stdout, stderr bytes.Buffer
			cfg.Stdout, cfg.Stderr = &stdout, &stderr
			code, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, stderr.String())
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if diff := cmp.Diff(tt.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, lastPart(stderr.String())); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, dirs)
			}
			assertEmptyDir(t, dirs.state)
		})
	}
}

// TestRunTrustsCABundle fetches from a TLS server on the host whose
// certificate only the extra CA file vouches for: the host network is
// shared (NetworkHost) and the bundle is trusted through SSL_CERT_FILE.
func TestRunTrustsCABundle(t *testing.T) {
	requireRuntime(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over TLS\n")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failing handshake is expected
	srv.StartTLS()
	defer srv.Close()
	certFile := filepath.Join(t.TempDir(), "corp.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	out := publicTempDir(t)
	bundle, cleanup, err := CABundle(context.Background(), out, certFile)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()

	for _, tc := range []struct {
		name       string
		bundle     string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "with the bundle", bundle: bundle, wantStdout: "hello over TLS\n"},
		{name: "without it", wantCode: 2, wantStderr: "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs := newTestDirs(t, testUID, testGID)
			cfg := baseConfig(t, dirs)
			cfg.CABundle = tc.bundle
			cfg.Network = NetworkHost
			cfg.Args = []string{"/bin/probe", "get", srv.URL}
			var stdout, stderr bytes.Buffer
			cfg.Stdout, cfg.Stderr = &stdout, &stderr
			code, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tc.wantCode, stderr.String())
			}
			if diff := cmp.Diff(tc.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	cfg, dirs, token := sleepConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	cfg.Stdout = &watchWriter{buf: &stdout, token: token, hit: cancel}

	start := time.Now()
	code, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %d, %v; want context.Canceled", code, err)
	}
	if d := time.Since(start); d > killGrace {
		t.Errorf("Run took %v after the process started sleeping", d)
	}
	if diff := cmp.Diff("sleeping "+token+"\n", stdout.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	assertEmptyDir(t, dirs.state)
	assertNoProcess(t, token)
}

func TestRunAlreadyCancelled(t *testing.T) {
	dirs := newTestDirs(t, testUID, testGID)
	cfg := baseConfig(t, dirs)
	cfg.Args = []string{"/bin/probe", "id"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

func TestRunFailures(t *testing.T) {
	requireRuntime(t)
	tests := []struct {
		name    string
		config  func(c *Config)
		wantErr string
	}{{
		name:    "runtime missing",
		config:  func(c *Config) { c.Runtime = "/nonexistent/runc" },
		wantErr: `finding the OCI runtime "/nonexistent/runc"`,
	}, {
		name:    "command missing in the root file system",
		config:  func(c *Config) { c.Args = []string{"/bin/nothing-here"} },
		wantErr: "/bin/nothing-here",
	}, {
		name:    "relative root file system",
		config:  func(c *Config) { c.RootFS = "rootfs" },
		wantErr: `root file system "rootfs" is not an absolute path`,
	}, {
		name:    "no command",
		config:  func(c *Config) { c.Args = nil },
		wantErr: "no command given",
	}, {
		name:    "mount source missing",
		config:  func(c *Config) { c.Mounts = append(c.Mounts, Mount{Source: "/nonexistent/src", Destination: "/x"}) },
		wantErr: "/nonexistent/src",
	}, {
		name:    "mount over the root",
		config:  func(c *Config) { c.Mounts = append(c.Mounts, Mount{Source: "/tmp", Destination: "/"}) },
		wantErr: `mount destination "/" must be an absolute path below /`,
	}, {
		name:    "bad environment entry",
		config:  func(c *Config) { c.Env = []string{"NOEQUALS"} },
		wantErr: `environment entry "NOEQUALS"`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirs := newTestDirs(t, testUID, testGID)
			cfg := baseConfig(t, dirs)
			cfg.Args = []string{"/bin/probe", "id"}
			tt.config(&cfg)
			var stdout bytes.Buffer
			cfg.Stdout = &stdout
			code, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run = %d, %v; want an error containing %q", code, err, tt.wantErr)
			}
			t.Logf("error: %v", err)
			if code != -1 {
				t.Errorf("exit code = %d, want -1", code)
			}
			if stdout.Len() != 0 {
				t.Errorf("the process ran: stdout %q", stdout.String())
			}
			assertEmptyDir(t, dirs.state)
		})
	}
}

func TestRunSameWriter(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	cfg := baseConfig(t, dirs)
	cfg.Args = []string{"/bin/probe", "exit", "0"}
	var both bytes.Buffer
	cfg.Stdout, cfg.Stderr = &both, &both
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	got := both.String()
	if got != "out\nerr\n" && got != "err\nout\n" {
		t.Errorf("combined output = %q, want out and err lines", got)
	}
}

// testDirs are the host directories of one test run, and as root the host
// id range its container's user namespace maps onto.
type testDirs struct {
	work, ro, state string
	ids             *IDRange
}

// newTestDirs makes the host directories of a run whose process runs as
// uid:gid. As root, runs get a user namespace: the dirs come with a reserved
// id range (passed on by baseConfig) and /work belongs to the host ids
// behind uid and gid. The rootless tests pass nobody, the calling user,
// whose own ids the process gets.
func newTestDirs(t *testing.T, uid, gid int) testDirs {
	t.Helper()
	base := publicTempDir(t)
	d := testDirs{
		work:  filepath.Join(base, "work"),
		ro:    filepath.Join(base, "ro"),
		state: filepath.Join(base, "state"),
	}
	for _, p := range []string{d.work, d.ro, d.state} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 && uid != nobody {
		d.ids = reserveTestIDs(t)
		uid, gid = d.ids.HostUID(uint32(uid)), d.ids.HostGID(uint32(gid))
	}
	if err := os.Chown(d.work, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d.state, uid, gid); err != nil && os.Geteuid() == 0 {
		t.Fatal(err)
	}
	return d
}

func baseConfig(t *testing.T, d testDirs) Config {
	return Config{
		RootFS:   rootfs,
		UID:      testUID,
		GID:      testGID,
		StateDir: d.state,
		TempDir:  t.TempDir(),
		IDs:      d.ids,
		Mounts: []Mount{
			{Source: d.work, Destination: "/work"},
			{Source: d.ro, Destination: "/ro", ReadOnly: true},
		},
	}
}

// lastPart keeps what follows the last ": " of each line, dropping the path
// and operation the probe's error messages start with.
func lastPart(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if j := strings.LastIndex(l, ": "); j >= 0 {
			lines[i] = l[j+2:]
		}
	}
	return strings.Join(lines, "")
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 0 {
		t.Errorf("runtime state left behind in %s: %v", dir, names)
	}
}

// assertNoProcess fails if any process has token on its command line.
func assertNoProcess(t *testing.T, token string) {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("process %s still runs: %q", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

// sleepConfig is baseConfig, with fresh dirs, for a process that sleeps
// until killed; token names it in the host's process list.
func sleepConfig(t *testing.T) (cfg Config, dirs testDirs, token string) {
	t.Helper()
	requireRuntime(t)
	dirs = newTestDirs(t, testUID, testGID)
	cfg = baseConfig(t, dirs)
	token = randomToken(t)
	cfg.Args = []string{"/bin/probe", "sleep", token}
	return cfg, dirs, token
}

func randomToken(t *testing.T) string {
	t.Helper()
	id, err := newID()
	if err != nil {
		t.Fatal(err)
	}
	return "token-" + id
}

// TestRunConcurrent runs several containers at once in one state directory:
// ids must not collide and each keeps its own output.
func TestRunConcurrent(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	const n = 4
	type result struct {
		code int
		err  error
		out  string
	}
	results := make(chan result, n)
	for i := range n {
		cfg := baseConfig(t, dirs)
		cfg.Args = []string{"/bin/probe", "getenv", "N"}
		cfg.Env = []string{"N=" + string(rune('a'+i))}
		go func() {
			var stdout bytes.Buffer
			cfg.Stdout = &stdout
			code, err := Run(context.Background(), cfg)
			results <- result{code, err, stdout.String()}
		}()
	}
	got := map[string]bool{}
	for range n {
		r := <-results
		if r.err != nil || r.code != 0 {
			t.Errorf("Run = %d, %v", r.code, r.err)
		}
		got[r.out] = true
	}
	want := map[string]bool{"N=a\n": true, "N=b\n": true, "N=c\n": true, "N=d\n": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	assertEmptyDir(t, dirs.state)
}
