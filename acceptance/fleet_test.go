//go:build acceptance

package acceptance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// fleetJSON is the part of `kiln fleet ... --json` the test reads.
type fleetJSON struct {
	Images  []fleetImage `json:"images"`
	Results []fleetImage `json:"results"`
}

type fleetImage struct {
	Image           string `json:"image"`
	Digest          string `json:"digest"`
	Skipped         string `json:"skipped"`
	RunDigest       string `json:"runImageDigest"`
	LatestRunDigest string `json:"latestRunImageDigest"`
	Outdated        bool   `json:"outdated"`
	Builder         string `json:"builder"`
	Outcome         string `json:"outcome"`
	Reason          string `json:"reason"`
	NewDigest       string `json:"newDigest"`
	Buildpacks      []struct {
		ID, Version string
	} `json:"buildpacks"`
}

func decodeFleet(t *testing.T, out string) map[string]fleetImage {
	t.Helper()
	var j fleetJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("kiln fleet --json: %v\n%s", err, out)
	}
	m := map[string]fleetImage{}
	for _, im := range append(j.Images, j.Results...) {
		m[im.Image[strings.LastIndex(im.Image, "/")+1:]] = im
	}
	return m
}

// TestFleet builds several apps under one prefix, publishes a patched run
// image, and rebases them all with kiln fleet: each then runs in podman on
// the patched base; a second run finds all current; an image another tool
// made is skipped, and an app whose new run image is another distro
// version is refused without --force.
func TestFleet(t *testing.T) {
	h := env.reg.Host
	run, other := h+"/fleet/run:latest", h+"/fleet/run-other:latest"
	pushImage(t, run, env.runImg)
	pushImage(t, other, env.runImg)
	prefix := h + "/fleet/apps"
	apps := []string{"a", "b", "c"}
	for _, a := range apps {
		src := appSource(t)
		if err := os.WriteFile(filepath.Join(src, "fleet-app.txt"), []byte(a+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustKiln(t, "build", prefix+"/"+a+":latest", "--builder", env.builder, "--path", src, "--publish", "--run-image", run)
	}
	mustKiln(t, "build", prefix+"/d:latest", "--builder", env.builder, "--path", appSource(t), "--publish", "--run-image", other)
	pushImage(t, prefix+"/plain:latest", env.runImg) // made by another tool: no CNB labels

	st := decodeFleet(t, mustKiln(t, "fleet", "status", prefix, "--json"))
	oldRun, _ := env.runImg.Digest()
	for _, a := range append(apps, "d") {
		im := st[a+":latest"]
		if im.Outdated || im.RunDigest != oldRun.String() || len(im.Buildpacks) == 0 || !strings.Contains(im.Builder, "@sha256:") {
			t.Errorf("before the update, %s: %+v", a, im)
		}
	}
	if s := st["plain:latest"].Skipped; !strings.Contains(s, labels.LifecycleMetadata) {
		t.Errorf("plain image: skipped %q", s)
	}

	patched := patchedRunImage(t, env.runImg, "fleet patch\n", nil)
	pushImage(t, run, patched)
	pushImage(t, other, patchedRunImage(t, env.runImg, "other distro\n", map[string]string{labels.BaseDistroVersion: "99"}))
	newRun, _ := patched.Digest()
	out := mustKiln(t, "fleet", "status", prefix)
	wantContains(t, out, "outdated ("+run+")", "skipped: not a CNB app image", "5 images, 4 outdated")

	// A dry run writes nothing.
	uploads := env.reg.Uploads()
	out = mustKiln(t, "fleet", "rebase", prefix, "--dry-run")
	wantContains(t, out, "3 would rebase", "1 refused", "1 skipped")
	if n := env.reg.Uploads() - uploads; n != 0 {
		t.Errorf("a dry run uploaded %d blobs", n)
	}

	out = mustKiln(t, "fleet", "rebase", prefix)
	wantContains(t, out, "5 images: 3 rebased, 0 current, 1 refused, 0 failed, 1 skipped",
		"refused: "+prefix+"/d:latest: the new run image's target differs", `io.buildpacks.base.distro.version "99"`,
		"skipped: "+prefix+"/plain:latest: not a CNB app image")
	if n := env.reg.Uploads() - uploads; n != 3 {
		t.Errorf("the fleet rebase uploaded %d blobs, want 3 (one config per app; no layer)", n)
	}
	podman := newPodman(t)
	for _, a := range apps {
		ref := prefix + "/" + a + ":latest"
		cfg, err := pull(t, ref).ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		var md labels.Lifecycle
		if _, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); err != nil || md.RunImage.Reference != h+"/fleet/run@"+newRun.String() {
			t.Errorf("%s: runImage %+v (%v), want the patched run image", a, md.RunImage, err)
		}
		got, err := podman("run", "--rm", "--pull=always", "--tls-verify=false", "--network", "host", "--entrypoint", "/cnb/lifecycle/launcher", ref, "cat /etc/kiln-patch /workspace/fleet-app.txt")
		if err != nil {
			t.Fatalf("podman run %s: %v", ref, err)
		}
		wantContains(t, got, "fleet patch\n"+a+"\n")
		got, err = podman("run", "--rm", "--tls-verify=false", "--network", "host", ref)
		if err != nil {
			t.Fatalf("podman run %s: %v", ref, err)
		}
		wantContains(t, got, "app says: web")
	}

	// Again: all current, nothing written.
	uploads = env.reg.Uploads()
	out = mustKiln(t, "fleet", "rebase", prefix)
	wantContains(t, out, "5 images: 0 rebased, 3 current, 1 refused, 0 failed, 1 skipped")
	if n := env.reg.Uploads() - uploads; n != 0 {
		t.Errorf("the second fleet rebase uploaded %d blobs", n)
	}

	// --from-file: the refused app with --force; a missing image fails
	// the run (exit 72) without stopping the others.
	list := filepath.Join(t.TempDir(), "apps.txt")
	os.WriteFile(list, []byte("# the refused one\n"+prefix+"/d:latest\n\n"+prefix+"/missing:latest  # gone\n"), 0o644)
	r := kiln(t, "fleet", "rebase", "--from-file", list, "--force", "--json")
	if r.code != 72 {
		t.Errorf("fleet rebase with a missing image: exit %d, want 72", r.code)
	}
	res := decodeFleet(t, r.out[:strings.LastIndex(r.out, "}")+1])
	if d := res["d:latest"]; d.Outcome != "rebased" {
		t.Errorf("forced d: %+v", d)
	}
	if m := res["missing:latest"]; m.Outcome != "failed" || m.Reason == "" {
		t.Errorf("missing: %+v", m)
	}
}
