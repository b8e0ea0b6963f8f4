//go:build acceptance

package acceptance

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The runtime state dir and the mount points' dir kiln uses as root.
const (
	rootRuncState = "/run/kiln/runc"
	rootStageDir  = "/run/kiln/mnt"
)

// TestInterrupt: ^C (or SIGTERM) during the build phase stops the build
// within seconds with exit code 130 and one line saying so, and leaves no
// container, mount point, work dir or cache lock behind: the next build
// succeeds and restores the cache as the last good build left it. A second
// ^C during that cleanup quits at once; the container's supervisor then
// still kills and deletes the container.
func TestInterrupt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("checks the runtime state kiln keeps as root")
	}
	for _, tc := range []struct {
		name  string
		sigs  []syscall.Signal
		force bool
	}{
		{"SIGINT", []syscall.Signal{syscall.SIGINT}, false},
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}, false},
		{"twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cacheDir := filepath.Join(t.TempDir(), "cache")
			t.Setenv("KILN_CACHE", cacheDir) // this app's cache and work dirs alone
			app := appSource(t)
			name := "interrupt/" + strings.ToLower(tc.name)
			build := []string{"build", name, "--builder", env.builder, "--path", app}
			wantContains(t, mustKiln(t, build...), "runtime: cache empty")

			dest := filepath.Join(t.TempDir(), "out")
			k := startKiln(t, append(build, "--env", "SLEEP_BUILD=600", "--output", "oci:"+dest)...)
			if !k.waitFor("app: sleeping", 3*time.Minute) {
				k.kill()
				t.Fatalf("the build phase did not start:\n%s", k.output())
			}
			ours := containersUnder(t, cacheDir)
			if len(ours) == 0 {
				t.Errorf("no container of this build runs during its build phase")
			}
			start := time.Now()
			for i, sig := range tc.sigs {
				if i > 0 {
					// Not at once, or the two may merge into one;
					// soon enough to find kiln still cleaning up.
					time.Sleep(10 * time.Millisecond)
				}
				k.cmd.Process.Signal(sig)
			}
			code, ok := k.wait(15 * time.Second)
			took := time.Since(start)
			out := k.output()
			if !ok {
				k.kill()
				t.Fatalf("kiln still runs %s after the signal:\n%s", took, out)
			}
			t.Logf("exit %d after %s\n%s", code, took.Round(time.Millisecond), out)
			if code != 130 {
				t.Errorf("exit code %d, want 130", code)
			}
			if took > 10*time.Second {
				t.Errorf("stopping took %s", took)
			}
			// A cleanup quicker than the second signal ends as if
			// there were one.
			forced := strings.Contains(out, "kiln: interrupted again; quitting without cleaning up")
			if n := strings.Count(out, "kiln: interrupted"); n != 1 {
				t.Errorf("%d lines say the build was interrupted, want 1", n)
			}
			if forced && !tc.force {
				t.Errorf("one signal, yet kiln quit without cleaning up")
			}
			t.Logf("forced: %v", forced)
			wantNotContains(t, out, "context canceled", "sandbox unavailable", "===> IMAGE", "Successfully built")
			if _, err := os.Stat(dest); !os.IsNotExist(err) {
				t.Errorf("the interrupted build wrote %s: %v", dest, err)
			}

			// A forced exit leaves the supervisor to kill and delete
			// the container on its own.
			deadline := time.Now().Add(15 * time.Second)
			left := containersUnder(t, cacheDir)
			for len(left) > 0 && forced && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
				left = containersUnder(t, cacheDir)
			}
			if len(left) > 0 {
				t.Errorf("containers left behind: %v", left)
			}
			if !forced {
				wantNoStages(t, ours)
			}
			if m := mountsUnder(t, rootStageDir, cacheDir); len(m) > 0 {
				t.Errorf("mounts left behind: %v", m)
			}
			if !forced {
				if w, _ := filepath.Glob(filepath.Join(cacheDir, "work", "*")); len(w) > 0 {
					t.Errorf("work dirs left behind: %v", w)
				}
				wantLocksFree(t, cacheDir)
			}

			// The next build neither waits nor starts cold, even after
			// a forced exit, and clears what that left.
			start = time.Now()
			out = mustKiln(t, build...)
			t.Logf("the next build took %s", time.Since(start).Round(time.Millisecond))
			wantContains(t, out, "runtime: cache restored, count=1")
			if w, _ := filepath.Glob(filepath.Join(cacheDir, "work", "*")); len(w) > 0 {
				t.Errorf("work dirs left behind after the next build: %v", w)
			}
			wantNoStages(t, ours)
		})
	}
}

// runningKiln is a kiln started in the background whose output is watched.
type runningKiln struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	seen chan string // each line as it arrives
	done chan struct{}
	code int
}

func startKiln(t *testing.T, args ...string) *runningKiln {
	t.Helper()
	k := &runningKiln{cmd: exec.Command(env.kiln, args...), seen: make(chan string, 1024), done: make(chan struct{})}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	k.cmd.Stdout, k.cmd.Stderr = w, w
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		k.scan(r)
	}()
	go func() {
		err := k.cmd.Wait()
		<-lines
		k.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			k.code = ee.ExitCode()
		} else if err != nil {
			k.code = -1
		}
		close(k.done)
	}()
	t.Cleanup(k.kill)
	return k
}

func (k *runningKiln) scan(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k.mu.Lock()
		k.out.WriteString(sc.Text() + "\n")
		k.mu.Unlock()
		select {
		case k.seen <- sc.Text():
		default:
		}
	}
}

// waitFor waits until a line of output holds s.
func (k *runningKiln) waitFor(s string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case l := <-k.seen:
			if strings.Contains(l, s) {
				return true
			}
		case <-k.done:
			return strings.Contains(k.output(), s)
		case <-timeout:
			return false
		}
	}
}

// wait waits at most d for kiln to exit and returns its exit code.
func (k *runningKiln) wait(d time.Duration) (int, bool) {
	select {
	case <-k.done:
		return k.code, true
	case <-time.After(d):
		return 0, false
	}
}

func (k *runningKiln) kill() {
	select {
	case <-k.done:
	default:
		k.cmd.Process.Kill()
		<-k.done
	}
}

func (k *runningKiln) output() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.out.String()
}

// runcContainer is one entry of `runc list --format json`.
type runcContainer struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Status string `json:"status"`
}

// containersUnder lists the containers in kiln's runtime state whose bundle
// lies under dir: those of builds using dir as their cache.
func containersUnder(t *testing.T, dir string) []runcContainer {
	t.Helper()
	if _, err := os.Stat(rootRuncState); os.IsNotExist(err) {
		return nil
	}
	b, err := exec.Command("runc", "--root", rootRuncState, "list", "--format", "json").Output()
	if err != nil {
		t.Fatalf("runc list: %v", err)
	}
	var all []runcContainer
	if err := json.Unmarshal(b, &all); err != nil && len(strings.TrimSpace(string(b))) > 0 && strings.TrimSpace(string(b)) != "null" {
		t.Fatalf("runc list: %v: %s", err, b)
	}
	var ours []runcContainer
	for _, c := range all {
		if strings.HasPrefix(c.Bundle, dir+string(filepath.Separator)) {
			ours = append(ours, c)
		}
	}
	return ours
}

// wantNoStages fails the test if a directory of mount points the
// containers cs had is left.
func wantNoStages(t *testing.T, cs []runcContainer) {
	t.Helper()
	for _, c := range cs {
		stage := filepath.Join(rootStageDir, filepath.Base(c.Bundle))
		if _, err := os.Stat(stage); err == nil {
			t.Errorf("mount point dir left behind: %s", stage)
		}
	}
}

// mountsUnder lists the host's mount points under any of dirs.
func mountsUnder(t *testing.T, dirs ...string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		for _, d := range dirs {
			if f[4] == d || strings.HasPrefix(f[4], d+"/") {
				out = append(out, f[4])
			}
		}
	}
	return out
}

// wantLocksFree fails the test if a lock file under dir is held.
func wantLocksFree(t *testing.T, dir string) {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() || fi.Name() != "lock" {
			return nil
		}
		n++
		f, err := os.Open(p)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Errorf("lock %s is still held: %v", p, err)
		}
		return nil
	})
	if n == 0 {
		t.Errorf("no cache lock under %s", dir)
	}
}
