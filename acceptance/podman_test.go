//go:build acceptance

package acceptance

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRunsInPodman: an image kiln built runs in another engine. podman
// loads the docker-archive and runs it with runc; the app answers as it
// does under kiln run.
func TestRunsInPodman(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is not installed (make deps installs it): %v", err)
	}
	arch := filepath.Join(t.TempDir(), "app.tar")
	mustKiln(t, "build", "podman/app:v1", "--builder", env.builder, "--path", appSource(t), "--output", "docker-archive:"+arch)

	podman := newPodman(t)
	if _, err := podman("load", "-i", arch); err != nil {
		t.Fatalf("podman load: %v", err)
	}
	out, err := podman("run", "--rm", "--network", "host", "podman/app:v1")
	if err != nil {
		t.Fatalf("podman run: %v", err)
	}
	wantContains(t, out, "app says: web | RUNTIME_VERSION=1.2.3 | GREETING=hello from the launch layer")
	out, err = podman("run", "--rm", "--network", "host", "--entrypoint", "/cnb/process/worker", "podman/app:v1")
	if err != nil {
		t.Fatalf("podman run worker: %v", err)
	}
	wantContains(t, out, "worker from-args hello from the launch layer")
	// The image runs as the CNB user.
	out, err = podman("run", "--rm", "--entrypoint", "/cnb/lifecycle/launcher", "podman/app:v1", "id -u; id -g")
	if err != nil {
		t.Fatalf("podman run id: %v", err)
	}
	wantContains(t, out, "1001\n1002")
}

// newPodman returns a func that runs podman with its own storage in a
// temp dir, set up as it works here (runc, cgroupfs, no default ulimits:
// hybrid cgroups), and returns its combined output. When the test ends,
// its containers are removed, podman commands still running (a
// background `podman run`) are waited for, and what podman left mounted
// under the dir is unmounted, so the temp dir can go.
func newPodman(t testing.TB) func(args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatalf("podman is not installed (make deps installs it): %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var running sync.WaitGroup
	run := func(args ...string) (string, error) {
		base := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
			"--storage-driver", "overlay", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}
		cmd := exec.Command("podman", append(base, args...)...)
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		t.Logf("$ podman %s\n%s", strings.Join(args, " "), buf.String())
		return buf.String(), err
	}
	t.Cleanup(func() {
		run("rm", "--all", "--force", "--time", "0")
		done := make(chan struct{})
		go func() { running.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			t.Errorf("podman commands still running 2 minutes after the test")
		}
		unmountBelow(t, dir)
	})
	return func(args ...string) (string, error) {
		running.Add(1)
		defer running.Done()
		return run(args...)
	}
}

// unmountBelow detaches every mount below dir, deepest first (overlay
// layers podman left behind).
func unmountBelow(t testing.TB, dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			t.Logf("unmounting %s: %v", m, err)
		}
	}
}
