//go:build acceptance

package acceptance

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// htpasswdLine is user "kiln" with password "kiln-right-password", as
// bcrypt (the only hash docker-registry's htpasswd auth takes), made once
// with golang.org/x/crypto/bcrypt.
const (
	htpasswdLine  = "kiln:$2a$10$Gyjl20WD6flZyQKbWJRJM.Fcr.yyN48oVwiCx4oBTCk9sE2tuHG2e\n"
	rightPassword = "kiln-right-password"
)

// dockerConfig writes a Docker config dir whose credentials for host are
// kiln:password and points DOCKER_CONFIG at it for the kiln runs.
func dockerConfig(t *testing.T, host, password string) {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("kiln:" + password))
	cfg := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, host, auth)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	t.Setenv("CNB_REGISTRY_AUTH", "")
}

// TestRegistryWrongPassword: a registry that rejects kiln's credentials
// fails the build before it starts, with a message naming the registry and
// the credentials, instead of a silent cold build; with the right password
// the build publishes, and the next one finds the previous image.
func TestRegistryWrongPassword(t *testing.T) {
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(htpasswdLine), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := startRegistryWith(filepath.Join(dir, "registry"), fmt.Sprintf(`auth:
  htpasswd:
    realm: kiln-test
    path: %s
`, htpasswd))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	app := appSource(t)
	ref := reg.Host + "/kiln-test/locked:latest"

	dockerConfig(t, reg.Host, "wrong-password")
	r := kiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	if r.code == 0 {
		t.Fatal("a build with a wrong registry password succeeded")
	}
	wantContains(t, r.out, "registry "+reg.Host+" rejected the credentials", "kiln-test/locked", "docker login")
	wantNotContains(t, r.out, "BUILDING")

	dockerConfig(t, reg.Host, rightPassword)
	r = kiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	if r.code != 0 {
		t.Fatalf("a build with the right password: exit %d", r.code)
	}
	wantNotContains(t, r.out, "ANALYZED previous image", "rejected")
	r = kiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	if r.code != 0 {
		t.Fatalf("a rebuild with the right password: exit %d", r.code)
	}
	wantContains(t, r.out, "ANALYZED previous image")

	// The previous image is there, but the credentials are wrong: the
	// rebuild fails instead of building cold.
	dockerConfig(t, reg.Host, "wrong-password")
	r = kiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	if r.code == 0 {
		t.Fatal("a rebuild with a wrong registry password succeeded")
	}
	wantContains(t, r.out, "registry "+reg.Host+" rejected the credentials")
	wantNotContains(t, r.out, "BUILDING")

	// A cache image kiln may not read is a loud warning, not a silent
	// empty cache; the build (to the local store) goes on.
	r = kiln(t, "build", "kiln-test/cache-locked", "--builder", env.builder, "--path", app,
		"--cache-image", reg.Host+"/kiln-test/locked-cache:latest")
	if r.code != 0 {
		t.Errorf("a build whose cache image is unreadable: exit %d, want 0 (with a warning)", r.code)
	}
	wantContains(t, r.out, "cache image "+reg.Host+"/kiln-test/locked-cache:latest", "rejected the credentials")
}

// TestRegistryStoppedMidPush: a registry stopped (SIGSTOP) while kiln
// uploads to it fails the build within KILN_REGISTRY_TIMEOUT, with a
// message naming the registry, instead of hanging.
func TestRegistryStoppedMidPush(t *testing.T) {
	dir := t.TempDir()
	reg, err := startRegistry(filepath.Join(dir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	proc := reg.cmd.Process
	t.Cleanup(func() {
		proc.Signal(syscall.SIGCONT)
		reg.Stop()
	})
	const timeout = 5 * time.Second
	t.Setenv("KILN_REGISTRY_TIMEOUT", timeout.String())

	// A large incompressible file makes an upload that lasts long enough
	// to be caught in the middle.
	app := appSource(t)
	big, err := os.Create(filepath.Join(app, "static", "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(big, rand.Reader, 96<<20); err != nil {
		t.Fatal(err)
	}
	big.Close()

	ref := reg.Host + "/kiln-test/stalled:latest"
	k := startKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	giveUp := time.After(5 * time.Minute)

	uploads := filepath.Join(dir, "registry", "data", "docker", "registry", "v2", "repositories", "kiln-test", "stalled", "_uploads", "*", "data")
	var stopped time.Time
wait:
	for {
		select {
		case <-k.done:
			break wait
		case <-giveUp:
			k.kill()
			break wait
		case <-time.After(2 * time.Millisecond):
		}
		if !stopped.IsZero() {
			continue
		}
		files, _ := filepath.Glob(uploads)
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.Size() > 256<<10 {
				if err := proc.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				stopped = time.Now()
				t.Logf("registry stopped with %d bytes of %s uploaded", fi.Size(), f)
				break
			}
		}
	}
	out := k.output()
	t.Logf("$ kiln build %s --publish (exit %d)\n%s", ref, k.code, out)
	if stopped.IsZero() {
		t.Fatal("the push ended before an upload could be caught in the middle")
	}
	took := time.Since(stopped)
	if k.code == 0 {
		t.Fatal("the build succeeded against a stopped registry")
	}
	if took > timeout+20*time.Second {
		t.Errorf("the build failed %s after the registry stopped; KILN_REGISTRY_TIMEOUT=%s", took, timeout)
	}
	wantContains(t, out, "no answer from "+reg.Host+" for 5s", "registry "+reg.Host)
	t.Logf("failed %s after the registry stopped", took.Round(time.Millisecond))
}
