//go:build acceptance

package acceptance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// rootlessUID runs kiln as an unprivileged user: nobody, which owns
// nothing kiln must not touch.
const rootlessUID = 65534

// rootless is a private home for a rootless kiln and what its runs need
// without changing the host: /etc/subuid and /etc/subgid lines and a
// /dev/net/tun the user may open (this host's is 0600), bound over the
// host's files in a mount namespace of the kiln run alone.
type rootless struct {
	home, subuid, subgid, tun string
	// kilnBin and hostileBP are copies the user can reach whatever
	// directory the repository was cloned into (/root is 0700).
	kilnBin, hostileBP string
}

func newRootless(t *testing.T) *rootless {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the rootless runs are set up by root")
	}
	for _, tool := range []string{"unshare", "setpriv", "newuidmap", "slirp4netns"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("rootless runs need %s: %v", tool, err)
		}
	}
	base, err := os.MkdirTemp("", "kiln-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	r := &rootless{home: filepath.Join(base, "home"), subuid: filepath.Join(base, "subuid"),
		subgid: filepath.Join(base, "subgid"), tun: filepath.Join(base, "tun")}
	ids := fmt.Sprintf("%d:300000:65536\n", rootlessUID)
	for _, f := range []string{r.subuid, r.subgid} {
		if err := os.WriteFile(f, []byte(ids), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mknod(r.tun, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))); err != nil {
		t.Fatalf("making a tun device node: %v", err)
	}
	os.Chmod(r.tun, 0o666)
	r.mkdir(t, r.home)
	r.kilnBin = filepath.Join(base, "kiln")
	if out, err := exec.Command("cp", env.kiln, r.kilnBin).CombinedOutput(); err != nil {
		t.Fatalf("copying kiln: %v %s", err, out)
	}
	os.Chmod(r.kilnBin, 0o755)
	r.hostileBP = copyTree(t, hostileBP(t), filepath.Join(base, "hostile-bp"))
	return r
}

// mkdir makes a dir the rootless user owns.
func (r *rootless) mkdir(t testing.TB, p string) string {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, rootlessUID, rootlessUID); err != nil {
		t.Fatal(err)
	}
	return p
}

// give copies src into the rootless home and hands it to the user.
func (r *rootless) give(t testing.TB, src, name string) string {
	t.Helper()
	dst := copyTree(t, src, filepath.Join(r.home, name))
	filepath.Walk(dst, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, rootlessUID, rootlessUID) })
	return dst
}

// kiln runs kiln as the rootless user.
func (r *rootless) kiln(t testing.TB, args ...string) result {
	t.Helper()
	script := `set -e
mount --bind "$1" /etc/subuid
mount --bind "$2" /etc/subgid
mount --bind "$3" /dev/net/tun
shift 3
exec setpriv --reuid=` + fmt.Sprint(rootlessUID) + ` --regid=` + fmt.Sprint(rootlessUID) + ` --clear-groups --inh-caps=-all "$@"`
	envs := append(os.Environ(),
		"HOME="+r.home,
		"KILN_STORE="+filepath.Join(r.home, "store"),
		"KILN_CACHE="+filepath.Join(r.home, "cache"),
		"XDG_RUNTIME_DIR="+r.mkdir(t, filepath.Join(r.home, "run")),
		"TMPDIR="+r.mkdir(t, filepath.Join(r.home, "tmp")),
	)
	return runKiln(t, "(rootless) ", func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private",
			"bash", "-c", script, "bash", r.subuid, r.subgid, r.tun, r.kilnBin}, args...)...)
		cmd.Env, cmd.Dir = envs, r.home
		return cmd
	}, args)
}

// TestRootlessBuild: kiln as an unprivileged user builds the test app.
func TestRootlessBuild(t *testing.T) {
	r := newRootless(t)
	app := r.give(t, filepath.Join("testdata", "app"), "app")
	out := r.kiln(t, "build", "rootless/app", "--builder", env.builder, "--path", app)
	if !strings.Contains(out.out, "Successfully built") {
		t.Fatalf("rootless build failed (exit %d)", out.code)
	}
	wantContains(t, out.out, "warning:", "limits")
}
