//go:build acceptance

package acceptance

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// The hostile-buildpack suite (issue 8): testdata/buildpacks/hostile attacks
// the host in the way the platform env var ATTACK names. Every case checks
// that the host is untouched (a victim dir with a canary and a secret,
// compared before and after), that no secret reaches kiln's output, and
// that the refusal names what the build left.

const secretText = "HOST-SECRET-CANARY"

// host is how kiln runs: as root, or as an unprivileged user (rootless).
type host struct {
	kiln func(t testing.TB, args ...string) result
	// dir makes a fresh directory kiln's user owns.
	dir func(t testing.TB) string
	// runcState is the runtime state dir kiln uses.
	runcState string
	rootless  bool
	// bp is the hostile buildpack's dir, where kiln's user can read it.
	bp string
}

func rootHost() host {
	return host{kiln: kiln, dir: func(t testing.TB) string { return t.TempDir() }, runcState: "/run/kiln/runc"}
}

func (r *rootless) host() host {
	n := 0
	return host{kiln: r.kiln, rootless: true, bp: r.hostileBP, runcState: filepath.Join(r.home, "run", "kiln", "runc"),
		dir: func(t testing.TB) string { n++; return r.mkdir(t, filepath.Join(r.home, "d", strconv.Itoa(n))) }}
}

// TestHostile runs the hostile-buildpack suite as root and rootless.
func TestHostile(t *testing.T) {
	hosts := map[string]func(t *testing.T) host{
		"root":     func(*testing.T) host { return rootHost() },
		"rootless": func(t *testing.T) host { return newRootless(t).host() },
	}
	for _, name := range []string{"root", "rootless"} {
		t.Run(name, func(t *testing.T) {
			h := hosts[name](t)
			t.Run("LinksAreRefused", func(t *testing.T) { testHostileLinksAreRefused(t, h) })
			t.Run("RestoreThroughLink", func(t *testing.T) { testHostileRestoreThroughLink(t, h) })
			t.Run("SliceThroughLink", func(t *testing.T) { testHostileSliceThroughLink(t, h) })
			t.Run("BadBuildpackVersion", func(t *testing.T) { testHostileBadBuildpackVersion(t, h) })
			t.Run("SizeLimits", func(t *testing.T) { testHostileSizeLimits(t, h) })
			t.Run("Network", func(t *testing.T) { testHostileNetwork(t, h) })
			t.Run("SyscallsAndIDs", func(t *testing.T) { testHostileSyscallsAndIDs(t, h) })
			t.Run("Limits", func(t *testing.T) { testHostileLimits(t, h) })
		})
	}
}

// victim is a host directory a build must neither read nor change.
type victim struct {
	dir, secret string
	before      map[string]string
}

func newVictim(t *testing.T, h host) *victim {
	t.Helper()
	dir := filepath.Join(h.dir(t), "victim")
	for name, content := range map[string]string{
		"secret":          secretText + "\n",
		"c/canary":        "still here\n",
		"c.toml":          "[metadata]\nowner = \"host\"\n",
		"config.json":     `{"auths":{"registry.example":{"auth":"` + secretText + `"}}}`,
		"sub/file.txt":    "host file\n",
		"sub/another.txt": "host file 2\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if h.rootless {
		// The user's own files: what a rootless kiln could reach.
		filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, rootlessUID, rootlessUID) })
	}
	v := &victim{dir: dir, secret: filepath.Join(dir, "secret")}
	v.before = v.snapshot(t)
	return v
}

// snapshot lists the victim dir: every path with its mode and content.
func (v *victim) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(v.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			out[p] = "error: " + err.Error()
			return nil
		}
		b, _ := os.ReadFile(p)
		out[p] = fi.Mode().String() + " " + string(b)
		return nil
	})
	return out
}

// untouched fails the test if the victim dir changed.
func (v *victim) untouched(t *testing.T) {
	t.Helper()
	after := v.snapshot(t)
	var diff []string
	for p, b := range v.before {
		if after[p] != b {
			diff = append(diff, "changed or gone: "+p)
		}
	}
	for p := range after {
		if _, ok := v.before[p]; !ok {
			diff = append(diff, "appeared: "+p)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("the build changed the host's victim dir:\n%s", strings.Join(diff, "\n"))
	}
}

func hostileBP(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "buildpacks", "hostile"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hostileBuild builds the test app with only the hostile buildpack and the
// attack, into an OCI layout it returns.
func hostileBuild(t *testing.T, h host, name, attack, victimPath string, extra ...string) (result, string) {
	t.Helper()
	out := filepath.Join(h.dir(t), "image")
	args := append([]string{"build", name, "--builder", env.builder, "--path", h.app(t),
		"--buildpack", h.buildpack(t), "--env", "ATTACK=" + attack, "--env", "VICTIM=" + victimPath,
		"--output", "oci:" + out}, extra...)
	r := h.kiln(t, args...)
	wantNotContains(t, r.out, secretText)
	return r, out
}

// buildpack is the hostile buildpack's dir as kiln's user reaches it.
func (h host) buildpack(t testing.TB) string {
	if h.bp != "" {
		return h.bp
	}
	return hostileBP(t)
}

// app copies the test app into a dir kiln's user owns.
func (h host) app(t testing.TB) string {
	t.Helper()
	dst := copyTree(t, filepath.Join("testdata", "app"), filepath.Join(h.dir(t), "app"))
	if h.rootless {
		filepath.Walk(dst, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, rootlessUID, rootlessUID) })
	}
	return dst
}

func wantNoImage(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an image was written after a refused build: %v", err)
	}
}

// testHostileLinksAreRefused: links a build leaves where the host reads or
// writes by name are refused with a message naming them; nothing behind them
// is read, written or deleted.
func testHostileLinksAreRefused(t *testing.T, h host) {
	for _, tc := range []struct {
		attack string
		target func(v *victim) string
		code   int
		want   []string
	}{
		// Finding 2: a launch layer that is a link to host credentials.
		{"export-symlink", func(v *victim) string { return v.dir }, 52, []string{"/layers/kiln-test_hostile/cfg", "symbolic link"}},
		{"export-toml-symlink", func(v *victim) string { return v.secret }, 52, []string{"/layers/kiln-test_hostile/x.toml", "symbolic link"}},
		{"sbom-symlink", func(v *victim) string { return v.secret }, 52, []string{"/layers/kiln-test_hostile/x.sbom.cdx.json", "symbolic link"}},
		{"launch-toml-symlink", func(v *victim) string { return v.secret }, 52, []string{"/layers/kiln-test_hostile/launch.toml", "symbolic link"}},
		{"store-toml-fifo", func(v *victim) string { return v.secret }, 52, []string{"/layers/kiln-test_hostile/store.toml", "FIFO"}},
		{"exec-d-symlink", func(v *victim) string { return v.secret }, 0, nil},
		// Finding 4: error files are not read through links, nor do they
		// hang the phase as FIFOs: the phase driver replaces what the
		// buildpack left, and the host reads without following
		// (lifecycle/create's unit tests plant links after the driver).
		{"build-error-symlink", func(v *victim) string { return v.secret }, 51, []string{"kiln-test/hostile"}},
		{"detect-error-symlink", func(v *victim) string { return v.secret }, 21, []string{"kiln-test/hostile"}},
		{"detect-error-fifo", func(v *victim) string { return v.secret }, 21, []string{"kiln-test/hostile"}},
		// The phase driver writes group.toml anew (by rename), so the
		// link is gone and the build goes on.
		{"group-symlink", func(v *victim) string { return v.secret }, 0, nil},
	} {
		t.Run(tc.attack, func(t *testing.T) {
			v := newVictim(t, h)
			r, out := hostileBuild(t, h, "hostile/"+tc.attack, tc.attack, tc.target(v))
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d", r.code, tc.code)
			}
			wantContains(t, r.out, tc.want...)
			if tc.code != 0 {
				wantNoImage(t, out)
			}
			v.untouched(t)
		})
	}
}

// testHostileRestoreThroughLink: finding 1. bin/detect replaces the
// buildpack's layers dir (or a cached layer, or its TOML) with a link to a
// host dir, hoping the host restores through it. The host restores before
// any container runs, so the links come too late to redirect it; a link
// left where the host looks after the build is refused, naming it; either
// way the host dir is untouched and the cache still works.
func testHostileRestoreThroughLink(t *testing.T, h host) {
	for _, attack := range []string{"restore-symlink", "restore-layer-symlink", "restore-toml-symlink"} {
		t.Run(attack, func(t *testing.T) {
			if !h.rootless {
				t.Setenv("KILN_CACHE", filepath.Join(t.TempDir(), "cache"))
			}
			v := newVictim(t, h)
			name := "hostile/" + attack
			if r, _ := hostileBuild(t, h, name, "cache-layer", v.dir); r.code != 0 {
				t.Fatalf("the honest build that fills the cache failed:\n%s", r.out)
			}
			r, out := hostileBuild(t, h, name, attack, v.dir)
			wantContains(t, r.out, "RESTORED kiln-test/hostile:c")
			switch r.code {
			case 0:
			case 52:
				wantContains(t, r.out, "/layers/kiln-test_hostile", "symbolic link")
				wantNoImage(t, out)
			default:
				t.Errorf("exit code %d, want 0 or 52 (the link refused)", r.code)
			}
			v.untouched(t)
			if r, _ := hostileBuild(t, h, name, "cache-layer", v.dir); r.code != 0 {
				t.Errorf("an honest build after the attack failed:\n%s", r.out)
			}
			v.untouched(t)
		})
	}
}

// testHostileSliceThroughLink: finding 5. A slice whose glob goes through
// a workspace link to a host dir matches nothing there: neither the output
// nor the image names the host's files.
func testHostileSliceThroughLink(t *testing.T, h host) {
	v := newVictim(t, h)
	r, out := hostileBuild(t, h, "hostile/slice", "slice-symlink", filepath.Join(v.dir, "sub"))
	if r.code != 0 {
		t.Fatalf("exit code %d", r.code)
	}
	wantNotContains(t, r.out, "file.txt", "another.txt")
	img := ociImage(t, out)
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		for name, h := range layerFiles(t, l) {
			if strings.Contains(name, "file.txt") || strings.Contains(name, "another.txt") {
				t.Errorf("the image holds %s (%c)", name, h.Typeflag)
			}
		}
	}
	v.untouched(t)
}

// testHostileBadBuildpackVersion: finding 3. A version that walks out of
// kiln's work dir is refused before anything is written.
func testHostileBadBuildpackVersion(t *testing.T, h host) {
	escapeTo := filepath.Join(h.dir(t), "escaped")
	bp := copyTree(t, h.buildpack(t), filepath.Join(h.dir(t), "bp"))
	toml := filepath.Join(bp, "buildpack.toml")
	b, err := os.ReadFile(toml)
	if err != nil {
		t.Fatal(err)
	}
	version := strings.Repeat("../", 20) + strings.TrimPrefix(escapeTo, "/")
	os.WriteFile(toml, []byte(strings.Replace(string(b), `version = "6.6.6"`, `version = "`+version+`"`, 1)), 0o644)
	r := h.kiln(t, "build", "hostile/version", "--builder", env.builder, "--path", h.app(t), "--buildpack", bp)
	if r.code != 2 {
		t.Errorf("exit code %d, want 2", r.code)
	}
	wantContains(t, r.out, "buildpack.toml", "version", "not allowed")
	if _, err := os.Lstat(escapeTo); !os.IsNotExist(err) {
		t.Errorf("kiln wrote %s outside its work dir: %v", escapeTo, err)
	}
}

// testHostileSizeLimits: finding 9. What a build hands back is capped.
func testHostileSizeLimits(t *testing.T, h host) {
	for attack, want := range map[string]string{
		"many-processes": "kiln accepts at most 1000",
		"huge-label":     "kiln accepts at most",
	} {
		t.Run(attack, func(t *testing.T) {
			r, out := hostileBuild(t, h, "hostile/"+attack, attack, "/nonexistent")
			if r.code == 0 {
				t.Errorf("the build succeeded")
			}
			wantContains(t, r.out, want)
			wantNoImage(t, out)
		})
	}
}

// ociImage opens the image kiln wrote to the OCI layout dir.
func ociImage(t *testing.T, dir string) v1.Image {
	t.Helper()
	img, err := imageio.New(nil).Open(context.Background(), imageio.Location{Kind: imageio.Layout, Path: dir}, false)
	if err != nil {
		t.Fatalf("opening %s: %v", dir, err)
	}
	return img
}

// probes reads the "PROBE name=value" lines a hostile build printed.
func probes(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		_, rest, ok := strings.Cut(l, "PROBE ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(rest), "="); ok {
			m[k] = v
		}
	}
	return m
}

// listener counts connections to a host service a build must not reach.
type listener struct {
	ln    net.Listener
	count atomic.Int64
}

func listen(t *testing.T, addr string) *listener {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.count.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return l
}

func (l *listener) port() string {
	return strconv.Itoa(l.ln.Addr().(*net.TCPAddr).Port)
}

// hostAddrs are this host's own non-loopback IPv4 addresses.
func hostAddrs(t *testing.T) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			out = append(out, n.IP.String())
		}
	}
	return out
}

// testHostileNetwork: finding 6. A build reaches nothing listening on the
// host: not its loopback (directly or through slirp's 10.0.2.2), not its
// own addresses. With --network host it does, which shows the probe works.
func testHostileNetwork(t *testing.T, h host) {
	lo := listen(t, "127.0.0.1:0")
	all := listen(t, "0.0.0.0:0")
	targets := []string{"127.0.0.1:" + lo.port(), "10.0.2.2:" + lo.port(), "127.0.0.1:" + all.port()}
	for _, a := range hostAddrs(t) {
		targets = append(targets, a+":"+all.port())
	}
	tg := "TARGETS=" + strings.Join(targets, " ")
	r, _ := hostileBuild(t, h, "hostile/network", "network", "", "--env", tg)
	if r.code != 0 {
		t.Fatalf("exit code %d", r.code)
	}
	p := probes(r.out)
	for _, target := range targets {
		if p["tcp:"+target] != "blocked" {
			t.Errorf("the build reached %s: %q", target, p["tcp:"+target])
		}
	}
	if n := lo.count.Load() + all.count.Load(); n != 0 {
		t.Errorf("the host's services saw %d connections from the build", n)
	}
	r, _ = hostileBuild(t, h, "hostile/network-host", "network", "", "--env", tg, "--network", "host")
	if got := probes(r.out)["tcp:127.0.0.1:"+lo.port()]; got != "reached" || lo.count.Load() == 0 {
		t.Errorf("with --network host the probe did not reach the host (%q): the test proves nothing", got)
	}
}

// testHostileSyscallsAndIDs: findings 7 and 8. No user or mount namespace,
// no key ring, no tracing the phase driver; the CNB uid is no host uid.
func testHostileSyscallsAndIDs(t *testing.T, h host) {
	r, _ := hostileBuild(t, h, "hostile/syscalls", "syscalls", "")
	if r.code != 0 {
		t.Fatalf("exit code %d", r.code)
	}
	p := probes(r.out)
	for _, k := range []string{"unshare-user", "unshare-mount", "ptrace-driver", "add_key"} {
		if p[k] != "denied" {
			t.Errorf("%s: %q, want denied", k, p[k])
		}
	}
	host, ok := hostIDOf(p["uid_map"], testUID)
	if !ok || host == testUID || host == 0 {
		t.Errorf("uid_map %q maps the CNB uid %d onto host uid %d", p["uid_map"], testUID, host)
	}
}

// hostIDOf finds the host id that a /proc/PID/uid_map (lines joined by
// ';') maps id to.
func hostIDOf(uidMap string, id int) (int, bool) {
	for _, l := range strings.Split(uidMap, ";") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		in, _ := strconv.Atoi(f[0])
		out, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[2])
		if id >= in && id < in+n {
			return out + id - in, true
		}
	}
	return 0, false
}

// testHostileLimits: finding 7. Processes and memory are capped, and a
// build that hangs is stopped by --timeout, leaving no container behind.
func testHostileLimits(t *testing.T, h host) {
	if h.rootless {
		// No cgroup delegation for rootless users here: kiln says so.
		r, _ := hostileBuild(t, h, "hostile/pids", "pids", "", "--pids-limit", "64")
		wantContains(t, r.out, "without cgroup delegation: no pids, memory or CPU limits apply")
	} else {
		r, _ := hostileBuild(t, h, "hostile/pids", "pids", "", "--pids-limit", "64")
		if got := probes(r.out)["pids"]; got != "limited" {
			t.Errorf("300 processes under --pids-limit 64: %q", got)
		}
		r, _ = hostileBuild(t, h, "hostile/memory", "memory", "", "--memory", "128m")
		if got := probes(r.out)["memory"]; got != "limited" {
			t.Errorf("512 MiB under --memory 128m: %q", got)
		}
	}
	before := runcContainers(t, h)
	start := time.Now()
	r, out := hostileBuild(t, h, "hostile/hang", "hang", "", "--timeout", "5s")
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("a 5s timeout took %s to end the build", took)
	}
	if r.code != 124 {
		t.Errorf("exit code %d, want 124", r.code)
	}
	wantContains(t, r.out, "PROBE hang=started", "timeout (5s)")
	wantNoImage(t, out)
	if after := runcContainers(t, h); after != before {
		t.Errorf("containers left behind: before %q, after %q", before, after)
	}
}

// runcContainers lists the containers in kiln's runtime state dir.
func runcContainers(t *testing.T, h host) string {
	t.Helper()
	if _, err := os.Stat(h.runcState); os.IsNotExist(err) {
		return ""
	}
	out, err := exec.Command("runc", "--root", h.runcState, "list", "-q").CombinedOutput()
	if err != nil {
		t.Logf("runc list: %v %s", err, out)
	}
	return strings.TrimSpace(string(out))
}
