package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The rootless tests run Run as uid 65534 (nobody), who owns the writable
// mount and the state directory, exactly as an unprivileged kiln user would.
const nobody = 65534

func TestRootless(t *testing.T) {
	requireRuntime(t)
	tests := []struct {
		name       string
		args       []string
		config     func(c *Config)
		wantCode   int
		wantStdout string
		wantStderr string
	}{{
		name:       "the caller's ids appear as the requested ones",
		args:       []string{"id"},
		config:     func(c *Config) { c.AdditionalGIDs = []uint32{7777} },
		wantStdout: "uid=4321 gid=5432 groups=7777\n",
	}, {
		name:       "no capabilities and no new privileges",
		args:       []string{"caps"},
		wantStdout: zeroCaps,
	}, {
		name:       "root file system is read-only",
		args:       []string{"write", "/probe-was-here", "x"},
		wantCode:   3,
		wantStderr: "read-only file system\n",
	}, {
		name:       "the caller's directory belongs to the process",
		args:       []string{"owner", "/work"},
		wantStdout: "4321:5432\n",
	}, {
		name: "writes to the writable mount",
		args: []string{"write", "/work/out.txt", "hello"},
	}, {
		name:       "tmp has mode 1777",
		args:       []string{"mode", "/tmp"},
		wantStdout: "1777\n",
	}, {
		name:       "non-zero exit code, stdout and stderr apart",
		args:       []string{"exit", "7"},
		wantCode:   7,
		wantStdout: "out\n",
		wantStderr: "err\n",
	}, {
		name:       "stdio can be reopened",
		args:       []string{"reopen"},
		wantStdout: "via /dev/stdout\n",
		wantStderr: "via /dev/stderr\n",
	}, {
		name:       "CA bundle",
		args:       []string{"cat", CABundlePath},
		config:     func(c *Config) { c.CABundle = "/etc/hosts" },
		wantStdout: readFile(t, "/etc/hosts"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirs := newTestDirs(t, nobody, nobody)
			cfg := rootlessConfig(t, dirs)
			cfg.Args = append([]string{"/bin/probe"}, tt.args...)
			if tt.config != nil {
				tt.config(&cfg)
			}
			resp := runRootless(t, helperRequest{Config: cfg})
			if resp.Err != "" {
				t.Fatalf("Run as uid %d: %s (stderr %q)", nobody, resp.Err, resp.Stderr)
			}
			if resp.Exit != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", resp.Exit, tt.wantCode, resp.Stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, resp.Stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantStderr, lastPart(resp.Stderr)); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			assertEmptyDir(t, dirs.state)
			assertEmptyDir(t, cfg.TempDir)
		})
	}
}

// TestRootlessHostOwnership checks that what the process writes belongs to
// the calling user on the host.
func TestRootlessHostOwnership(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, nobody, nobody)
	cfg := rootlessConfig(t, dirs)
	cfg.Args = []string{"/bin/probe", "write", "/work/out.txt", "hello"}
	resp := runRootless(t, helperRequest{Config: cfg})
	if resp.Err != "" || resp.Exit != 0 {
		t.Fatalf("Run = %d, %q (stderr %q)", resp.Exit, resp.Err, resp.Stderr)
	}
	p := filepath.Join(dirs.work, "out.txt")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if diff := cmp.Diff([2]uint32{nobody, nobody}, [2]uint32{st.Uid, st.Gid}); diff != "" {
		t.Errorf("owner of %s on the host (-want +got):\n%s", p, diff)
	}
	if diff := cmp.Diff("hello", readFile(t, p)); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
}

func TestRootlessCancel(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, nobody, nobody)
	cfg := rootlessConfig(t, dirs)
	token := randomToken(t)
	cfg.Args = []string{"/bin/probe", "sleep", token}
	resp := runRootless(t, helperRequest{Config: cfg, CancelOn: token})
	if !resp.Cancelled {
		t.Fatalf("Run = %d, %q; want context.Canceled (stderr %q)", resp.Exit, resp.Err, resp.Stderr)
	}
	if diff := cmp.Diff("sleeping "+token+"\n", resp.Stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	assertEmptyDir(t, dirs.state)
	assertNoProcess(t, token)
}

// TestRootlessDefaultStateDir checks that without XDG_RUNTIME_DIR a rootless
// run uses a private state directory and removes it.
func TestRootlessDefaultStateDir(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, nobody, nobody)
	cfg := rootlessConfig(t, dirs)
	cfg.StateDir = ""
	cfg.Args = []string{"/bin/probe", "id"}
	before := runtimeTempDirs(t)
	resp := runRootless(t, helperRequest{Config: cfg})
	if resp.Err != "" || resp.Exit != 0 {
		t.Fatalf("Run = %d, %q (stderr %q)", resp.Exit, resp.Err, resp.Stderr)
	}
	if diff := cmp.Diff(before, runtimeTempDirs(t)); diff != "" {
		t.Errorf("private state directories before and after (-before +after):\n%s", diff)
	}
}

// rootlessConfig is baseConfig with a bundle directory nobody may use.
func rootlessConfig(t *testing.T, dirs testDirs) Config {
	t.Helper()
	cfg := baseConfig(t, dirs)
	cfg.TempDir = dirs.state + "-bundles"
	if err := os.Mkdir(cfg.TempDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cfg.TempDir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRootlessWithoutSubIDs checks what works for a user with no
// subordinate ids: running as root inside, not running as anyone else.
func TestRootlessWithoutSubIDs(t *testing.T) {
	requireRuntime(t)
	tests := []struct {
		name       string
		uid, gid   uint32
		wantStdout string
		wantErr    string
	}{{
		name:       "root inside needs only the caller's own ids",
		uid:        0,
		gid:        0,
		wantStdout: "uid=0 gid=0 groups=\n",
	}, {
		name:    "another uid needs a subordinate uid for root",
		uid:     testUID,
		gid:     0,
		wantErr: "running as uid 4321 needs a subordinate uid range for user nobody (uid 65534) in /etc/subuid",
	}, {
		name:    "another gid needs a subordinate gid for root",
		uid:     0,
		gid:     testGID,
		wantErr: "running as gid 5432 with 0 supplementary groups needs a range of 1 subordinate gids for user nobody (uid 65534) in /etc/subgid",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirs := newTestDirs(t, nobody, nobody)
			cfg := rootlessConfig(t, dirs)
			cfg.UID, cfg.GID = tt.uid, tt.gid
			cfg.Args = []string{"/bin/probe", "id"}
			resp := runRootlessWith(t, helperRequest{Config: cfg}, "")
			if tt.wantErr != "" {
				if !strings.Contains(resp.Err, tt.wantErr) || !strings.Contains(resp.Err, ErrNoSubIDs.Error()) {
					t.Fatalf("Run = %d, %q; want an error containing %q", resp.Exit, resp.Err, tt.wantErr)
				}
				return
			}
			if resp.Err != "" || resp.Exit != 0 {
				t.Fatalf("Run = %d, %q (stderr %q)", resp.Exit, resp.Err, resp.Stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, resp.Stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			assertEmptyDir(t, dirs.state)
		})
	}
}

func runtimeTempDirs(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "kiln-runc-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
