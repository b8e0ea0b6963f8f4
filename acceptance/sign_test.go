//go:build acceptance

package acceptance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/provenance"
	"github.com/kiln-build/kiln/lifecycle/sign"
	"github.com/kiln-build/kiln/lifecycle/sign/cosignkey"
)

// cosignVersion is the cosign CLI the interop tests run.
const cosignVersion = "v2.6.5"

// cosignBinary is the real cosign CLI (see goTool).
func cosignBinary(t testing.TB) string {
	t.Helper()
	return goTool(t, "cosign", "github.com/sigstore/cosign/v2/cmd/cosign", cosignVersion)
}

// goTool is the command name of module path pkg at version: installed
// once with go install into the user's cache dir and reused; a lock
// keeps parallel test runs from installing it at the same time.
func goTool(t testing.TB, name, pkg, version string) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "kiln-test", name+"-"+version)
	bin := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	tmp, err := os.MkdirTemp(dir, "install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	t.Logf("installing %s %s (once)", name, version)
	cmd := exec.Command("go", "install", pkg+"@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", name, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, name), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// cosign runs the cosign CLI and returns its combined output and exit
// code.
func cosign(t *testing.T, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cosign %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("$ cosign %s (exit %d)\n%s", strings.Join(args, " "), code, buf.String())
	return result{buf.String(), code}
}

// Flags cosign needs offline, against the plain-HTTP test registry.
var (
	cosignVerifyFlags = []string{"--insecure-ignore-tlog=true", "--allow-insecure-registry"}
	cosignSignFlags   = []string{"--yes", "--tlog-upload=false", "--allow-insecure-registry"}
)

func cosignArgs(cmd string, flags []string, rest ...string) []string {
	return append(append([]string{cmd}, flags...), rest...)
}

// TestSignAndVerify: kiln build --publish --sign-key signs the image and
// attests its provenance in the form the real cosign CLI verifies; kiln
// verify checks the same and the policy, and accepts what cosign signed
// and attested; a tampered tag fails both; kiln rebase --sign-key
// re-signs and carries the provenance over.
func TestSignAndVerify(t *testing.T) {
	bin := cosignBinary(t)
	dir := t.TempDir()
	t.Setenv(cosignkey.PasswordEnv, "kiln-acceptance")
	key, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	mustKiln(t, "key", "generate", "--output-prefix", filepath.Join(dir, "cosign"))
	// cosign reads the private key kiln wrote.
	r := cosign(t, bin, "public-key", "--key", key)
	if want, _ := os.ReadFile(pub); r.code != 0 || !strings.Contains(r.out, string(want)) {
		t.Fatalf("cosign public-key of kiln's key does not give %s", pub)
	}

	src := appSource(t)
	const remoteURL = "https://git.example/team/signed-app.git"
	gitCommitAll(t, src, "app")
	mustGitRun(t, src, "remote", "add", "origin", remoteURL)
	ref := env.reg.Host + "/kiln-sign/app:latest"
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", src, "--publish", "--sign-key", key, "--env", "GREETING=hi")
	wantContains(t, out, "Attested provenance (https://slsa.dev/provenance/v1)", "Attested SBOM (https://cyclonedx.org/bom)", "Signed "+env.reg.Host+"/kiln-sign/app@sha256:")
	digest := builtDigest(t, out)

	// The real cosign CLI verifies kiln's signature and provenance.
	if r := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", pub, ref)...); r.code != 0 {
		t.Fatalf("cosign verify failed on kiln's signature")
	}
	r = cosign(t, bin, cosignArgs("verify-attestation", cosignVerifyFlags, "--key", pub, "--type", "slsaprovenance1", ref)...)
	if r.code != 0 {
		t.Fatalf("cosign verify-attestation --type slsaprovenance1 failed on kiln's provenance")
	}

	// kiln verify: every check, and the policy.
	out = mustKiln(t, "verify", ref, "--key", pub, "--builder", env.builder, "--source-repo", "git@git.example:team/signed-app")
	wantContains(t, out, "ok      signature:", "ok      provenance attestation signature:", "ok      provenance subject:",
		"ok      policy: builder:", "ok      policy: source repo: source repo "+remoteURL, "Verified ")
	bad := kiln(t, "verify", ref, "--key", pub, "--builder", env.reg.Host+"/kiln-test/other-builder:latest")
	if bad.code != failure.VerifyFailed {
		t.Errorf("kiln verify --builder wrong exited %d, want %d", bad.code, failure.VerifyFailed)
	}
	wantContains(t, bad.out, "FAILED  policy: builder: builder "+env.builder, "want "+env.reg.Host+"/kiln-test/other-builder:latest", "failed verification: policy: builder")
	wantNotContains(t, bad.out, "FAILED  signature")

	checkProvenance(t, ref, pub, mustGitRun(t, src, "rev-parse", "HEAD"), remoteURL)
	sbomAttestation(t, bin, ref, pub)
	interop(t, bin, dir, ref, digest)
	rebaseSigned(t, bin, ref, key, pub)
	fleetSigned(t, bin, ref, key, pub)
}

// fleetSigned: kiln fleet rebase --sign-key signs and attests each image
// it moves, as kiln rebase does.
func fleetSigned(t *testing.T, bin, ref, key, pub string) {
	t.Helper()
	runRef := env.reg.Host + "/kiln-test/run:sign-fleet"
	pushImage(t, runRef, patchedRunImage(t, env.runImg, "signed fleet rebase", nil))
	list := filepath.Join(t.TempDir(), "images.txt")
	if err := os.WriteFile(list, []byte(ref+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := pinned(t, ref)
	out := mustKiln(t, "fleet", "rebase", "--from-file", list, "--run-image", runRef, "--sign-key", key)
	wantContains(t, out, "Attested provenance", "Signed ")
	if after := pinned(t, ref); after.DigestStr() == before.DigestStr() {
		t.Fatal("kiln fleet rebase did not move the image")
	}
	if r := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", pub, ref)...); r.code != 0 {
		t.Fatal("cosign verify failed on the image kiln fleet rebased")
	}
	out = mustKiln(t, "verify", ref, "--key", pub, "--builder", env.builder)
	wantContains(t, out, "ok      provenance subject:", "Verified ")
}

// checkProvenance reads the verified provenance of ref: the git source,
// the builder's digest, the run image and buildpacks from the image, the
// names (never the values) of the build env.
func checkProvenance(t *testing.T, ref, pub, commit, remoteURL string) {
	t.Helper()
	v, err := cosignkey.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sign.Provenance(context.Background(), pinned(t, ref), v)
	if err != nil || p == nil {
		t.Fatalf("no verified provenance: %v", err)
	}
	if g := p.BuildDefinition.ExternalParameters.Source.Git; g == nil || g.Commit != commit || g.Remote != remoteURL {
		t.Errorf("source %+v, want commit %s of %s", g, commit, remoteURL)
	}
	if ip := p.BuildDefinition.InternalParameters; ip == nil || strings.Join(ip.EnvNames, ",") != "GREETING" {
		t.Errorf("internalParameters %+v, want the env name GREETING", ip)
	}
	body, _ := p.JSON()
	if strings.Contains(string(body), "=hi") || strings.Contains(string(body), `"hi"`) {
		t.Errorf("the provenance holds an env value:\n%s", body)
	}
	b, _ := p.Dependency(provenance.DepBuilder)
	if want := pinned(t, env.builder).DigestStr(); "sha256:"+b.Digest["sha256"] != want {
		t.Errorf("builder dependency %+v, want digest %s", b, want)
	}
	ri, _ := p.Dependency(provenance.DepRunImage)
	if want := pinned(t, env.runImage).DigestStr(); "sha256:"+ri.Digest["sha256"] != want {
		t.Errorf("run image dependency %+v, want digest %s", ri, want)
	}
	var bps []string
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		if d.Name == provenance.DepBuildpack {
			bps = append(bps, d.URI)
		}
	}
	if !strings.Contains(strings.Join(bps, " "), "urn:cnb:buildpack:kiln-test/runtime@1.0.0") {
		t.Errorf("buildpacks %v lack kiln-test/runtime@1.0.0", bps)
	}
}

// sbomAttestation checks the SBOM attestation kiln build --sign-key
// attached: cosign verifies it as --type cyclonedx, and its predicate is
// the merged SBOM kiln sbom prints (with the test runtime buildpack's
// kiln-runtime 1.2.3).
func sbomAttestation(t *testing.T, bin, ref, pub string) {
	t.Helper()
	r := cosign(t, bin, cosignArgs("verify-attestation", cosignVerifyFlags, "--key", pub, "--type", "cyclonedx", ref)...)
	if r.code != 0 {
		t.Fatal("cosign verify-attestation --type cyclonedx failed on kiln's SBOM attestation")
	}
	var env struct {
		Payload string `json:"payload"`
	}
	var stmt struct {
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			BOMFormat  string `json:"bomFormat"`
			Components []struct {
				Name    string `json:"name"`
				Version string `json:"version"`
			} `json:"components"`
		} `json:"predicate"`
	}
	for _, line := range strings.Split(r.out, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "{") || json.Unmarshal([]byte(line), &env) != nil || env.Payload == "" {
			continue
		}
		body, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(body, &stmt); err != nil {
			t.Fatal(err)
		}
	}
	found := false
	for _, c := range stmt.Predicate.Components {
		found = found || c.Name == "kiln-runtime" && c.Version == "1.2.3"
	}
	if stmt.Predicate.BOMFormat != "CycloneDX" || !found {
		t.Errorf("the attested SBOM (%s, %d components) is not the merged one with kiln-runtime 1.2.3", stmt.PredicateType, len(stmt.Predicate.Components))
	}
}

// copyImage writes the image at from to the tag to (blobs first, then
// the manifest, byte for byte).
func copyImage(t *testing.T, from, to string) {
	t.Helper()
	src, err := name.ParseReference(from)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(to)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func pinned(t *testing.T, ref string) name.Digest {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	return r.Context().Digest(desc.Digest.String())
}

// interop: an image signed and attested by the cosign CLI (its own key)
// passes kiln verify; then that image re-tagged over the kiln-signed tag
// fails both cosign verify and kiln verify with kiln's key.
func interop(t *testing.T, bin, dir, signedRef, signedDigest string) {
	t.Helper()
	t.Setenv("COSIGN_PASSWORD", "cosign-cli")
	if r := cosign(t, bin, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "cli")); r.code != 0 {
		t.Fatal("cosign generate-key-pair failed")
	}
	cliKey, cliPub := filepath.Join(dir, "cli.key"), filepath.Join(dir, "cli.pub")
	ref := env.reg.Host + "/kiln-sign/by-cosign:latest"
	app := appSource(t)
	os.WriteFile(filepath.Join(app, "other.txt"), []byte("another app"), 0o644) // another digest
	out := mustKiln(t, "build", ref, "--builder", env.builder, "--path", app, "--publish")
	digest := builtDigest(t, out)
	if digest == signedDigest {
		t.Fatal("the second app has the first one's digest")
	}
	pred := filepath.Join(dir, "provenance.json")
	os.WriteFile(pred, []byte(fmt.Sprintf(`{"buildDefinition":{"buildType":"https://example.com/by-hand","externalParameters":{"builderImage":%q}},"runDetails":{"builder":{"id":"https://example.com/cosign-cli"}}}`, env.builder)), 0o644)
	if r := cosign(t, bin, cosignArgs("sign", cosignSignFlags, "--key", cliKey, ref+"@"+digest)...); r.code != 0 {
		t.Fatal("cosign sign failed")
	}
	if r := cosign(t, bin, cosignArgs("attest", cosignSignFlags, "--key", cliKey, "--type", "slsaprovenance1", "--predicate", pred, ref+"@"+digest)...); r.code != 0 {
		t.Fatal("cosign attest failed")
	}
	out = mustKiln(t, "verify", ref, "--key", cliPub, "--builder", env.builder)
	wantContains(t, out, "ok      signature:", "ok      provenance subject:", "ok      policy: builder:", "Verified "+env.reg.Host+"/kiln-sign/by-cosign@"+digest)
	// With kiln's key, cosign's signature is not enough.
	if r := kiln(t, "verify", ref, "--key", filepath.Join(dir, "cosign.pub")); r.code != failure.VerifyFailed {
		t.Errorf("kiln verify with another key exited %d", r.code)
	}

	// Tamper: the cosign-signed image re-tagged over the kiln-signed tag,
	// first alone, then with its (cosign) signature copied beside it.
	kilnPub := filepath.Join(dir, "cosign.pub")
	copyImage(t, ref+"@"+digest, signedRef)
	bad := kiln(t, "verify", signedRef, "--key", kilnPub)
	if bad.code != failure.VerifyFailed {
		t.Errorf("kiln verify of the re-tagged image exited %d, want %d", bad.code, failure.VerifyFailed)
	}
	wantContains(t, bad.out, "FAILED  signature: no signature")
	sigTag := "sha256-" + strings.TrimPrefix(digest, "sha256:") + ".sig"
	copyImage(t, env.reg.Host+"/kiln-sign/by-cosign:"+sigTag, env.reg.Host+"/kiln-sign/app:"+sigTag)
	if r := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", kilnPub, signedRef)...); r.code == 0 {
		t.Error("cosign verify accepted an image re-tagged over the signed tag")
	}
	bad = kiln(t, "verify", signedRef, "--key", kilnPub)
	if bad.code != failure.VerifyFailed {
		t.Errorf("kiln verify of the re-tagged image exited %d, want %d", bad.code, failure.VerifyFailed)
	}
	wantContains(t, bad.out, "FAILED  signature: none of the 1 signatures", "not signed by this key")
	// Put the kiln-built image back for the rebase.
	copyImage(t, env.reg.Host+"/kiln-sign/app@"+signedDigest, signedRef)
	t.Setenv("COSIGN_PASSWORD", "kiln-acceptance")
}

// rebaseSigned: kiln rebase --sign-key signs the new digest and attests
// its provenance: the builder and source carried over, the new run image.
func rebaseSigned(t *testing.T, bin, ref, key, pub string) {
	t.Helper()
	runRef := env.reg.Host + "/kiln-test/run:sign-patched" // the recorded repository: a safe rebase
	pushImage(t, runRef, patchedRunImage(t, env.runImg, "signed rebase", nil))
	out := mustKiln(t, "rebase", ref, "--run-image", runRef, "--publish", "--sign-key", key)
	wantContains(t, out, "Attested provenance", "Signed ")
	if r := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", pub, ref)...); r.code != 0 {
		t.Fatal("cosign verify failed on the rebased image")
	}
	if r := cosign(t, bin, cosignArgs("verify-attestation", cosignVerifyFlags, "--key", pub, "--type", "slsaprovenance1", ref)...); r.code != 0 {
		t.Fatal("cosign verify-attestation failed on the rebased image")
	}
	out = mustKiln(t, "verify", ref, "--key", pub, "--builder", env.builder)
	wantContains(t, out, "ok      policy: builder:", "Verified ")
}

// TestSignKeyErrors: --sign-key without --publish is a usage error; a
// wrong password or a bad key fails the build, naming the file, and
// nothing is published.
func TestSignKeyErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(cosignkey.PasswordEnv, "right")
	mustKiln(t, "key", "generate", "--output-prefix", filepath.Join(dir, "k"))
	ref := env.reg.Host + "/kiln-sign/errors:latest"
	r := kiln(t, "build", ref, "--builder", env.builder, "--path", appSource(t), "--sign-key", filepath.Join(dir, "k.key"))
	if r.code != failure.InvalidInput || !strings.Contains(r.out, "--sign-key needs --publish") {
		t.Errorf("--sign-key without --publish: exit %d", r.code)
	}
	t.Setenv(cosignkey.PasswordEnv, "wrong")
	r = kiln(t, "build", ref, "--builder", env.builder, "--path", appSource(t), "--publish", "--sign-key", filepath.Join(dir, "k.key"))
	if r.code != failure.SignError || !strings.Contains(r.out, "k.key: wrong password") {
		t.Errorf("wrong password: exit %d", r.code)
	}
	// The key is decrypted beside the build, which its failure cancels
	// (a build quicker than the KDF may have published by then): the
	// failure is the key's, and nothing is signed.
	wantNotContains(t, r.out, "Successfully built", "interrupted", "Signed ")
	if d, err := remote.Head(mustRef(t, ref)); err == nil {
		sigTag := "sha256-" + d.Digest.Hex + ".sig"
		if _, err := remote.Head(mustRef(t, env.reg.Host+"/kiln-sign/errors:"+sigTag)); err == nil {
			t.Error("a build whose key did not decrypt left a signature")
		}
	}
	r = kiln(t, "sign", ref, "--key", filepath.Join(dir, "k.pub"))
	if r.code != failure.SignError || !strings.Contains(r.out, "k.pub") {
		t.Errorf("a public key given to sign: exit %d", r.code)
	}
	os.Unsetenv(cosignkey.PasswordEnv)
	r = kiln(t, "sign", ref, "--key", filepath.Join(dir, "k.key"))
	if r.code != failure.SignError || !strings.Contains(r.out, "COSIGN_PASSWORD is not set") {
		t.Errorf("no password: exit %d", r.code)
	}
}

// TestServeSigns: kiln serve signs and attests the images of an app whose
// key is in --sign-keys-dir, and not those of other apps; cosign verifies
// the signature.
func TestServeSigns(t *testing.T) {
	bin := cosignBinary(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv(cosignkey.PasswordEnv, "serve-keys")
	mustKiln(t, "key", "generate", "--output-prefix", filepath.Join(keys, "signed"))
	pub := filepath.Join(keys, "signed.pub")
	prefix := env.reg.Host + "/serve-sign"
	k := startServe(t, filepath.Join(dir, "admin-token"), []string{"KILN_CACHE=" + filepath.Join(dir, "cache"), cosignkey.PasswordEnv + "=serve-keys"},
		"--listen", freeAddr(t), "--data", filepath.Join(dir, "data"), "--registry-prefix", prefix, "--sign-keys-dir", keys)
	src := tarGz(t, appSource(t))
	for _, app := range []string{"signed", "plain"} {
		k.mustCall("POST", "/api/apps", map[string]any{"name": app, "builder": env.builder}, nil)
		b := k.waitFinal(k.start(app, src).ID)
		if b.Status != service.StatusSucceeded {
			t.Fatalf("%s: build %+v\n%s", app, b, k.log(b.ID))
		}
		logText := k.log(b.ID)
		ref := prefix + "/" + app + ":latest"
		r := cosign(t, bin, cosignArgs("verify", cosignVerifyFlags, "--key", pub, ref)...)
		if app == "signed" {
			wantContains(t, logText, "Attested provenance", "Attested SBOM", "Signed ")
			if r.code != 0 {
				t.Errorf("cosign verify failed on %s, which kiln serve built", ref)
			}
			out := mustKiln(t, "verify", ref, "--key", pub, "--builder", env.builder)
			wantContains(t, out, "Verified ")
		} else {
			wantNotContains(t, logText, "Signed ")
			if r.code == 0 {
				t.Errorf("%s is signed, but its app has no key", ref)
			}
		}
	}
}
