package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
)

var bg = context.Background()

// writeComponent writes a component buildpack under dir/name.
func writeComponent(t *testing.T, dir, name, id, version string) string {
	t.Helper()
	bp := filepath.Join(dir, name)
	writeFile(t, filepath.Join(bp, "buildpack.toml"), 0o644, fmt.Sprintf("api = \"0.10\"\n[buildpack]\nid = %q\nversion = %q\nname = %q\nhomepage = \"https://example.com/%s\"\n", id, version, "The "+name+" buildpack", name))
	writeFile(t, filepath.Join(bp, "bin", "detect"), 0o755, "#!/bin/sh\nexit 0\n")
	writeFile(t, filepath.Join(bp, "bin", "build"), 0o755, "#!/bin/sh\necho "+id+"\n")
	return bp
}

// writeComposite writes a composite buildpack with one group of members
// ("id@version", a trailing "?" marks an optional one).
func writeComposite(t *testing.T, dir, name, id, version string, members ...string) string {
	t.Helper()
	bp := filepath.Join(dir, name)
	var b strings.Builder
	fmt.Fprintf(&b, "api = \"0.10\"\n[buildpack]\nid = %q\nversion = %q\n[[order]]\n", id, version)
	for _, m := range members {
		opt := strings.HasSuffix(m, "?")
		mid, mver, _ := strings.Cut(strings.TrimSuffix(m, "?"), "@")
		fmt.Fprintf(&b, "[[order.group]]\nid = %q\nversion = %q\noptional = %v\n", mid, mver, opt)
	}
	writeFile(t, filepath.Join(bp, "buildpack.toml"), 0o644, b.String())
	return bp
}

func writeFile(t *testing.T, p string, mode os.FileMode, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// buildImage is a random image with the CNB user in its env and a stack
// id label, standing in for a real build image.
func buildImage(t *testing.T, env ...string) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	if env == nil {
		env = []string{"CNB_USER_ID=1001", "CNB_GROUP_ID=1002"}
	}
	cf.Config.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	cf.Config.User = "1001:1002"
	cf.Config.Labels = map[string]string{"io.buildpacks.stack.id": "io.kiln.test", "io.buildpacks.base.distro.name": "debian"}
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mapImages serves images by reference from a map.
func mapImages(m map[string]v1.Image) buildpackage.ImageSource {
	return buildpackage.ImageSourceFunc(func(_ context.Context, ref string) (v1.Image, error) {
		if img, ok := m[ref]; ok {
			return img, nil
		}
		return nil, fmt.Errorf("image %s: not found", ref)
	})
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func configDiffIDs(t *testing.T, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range cf.RootFS.DiffIDs {
		out = append(out, d.String())
	}
	return out
}
