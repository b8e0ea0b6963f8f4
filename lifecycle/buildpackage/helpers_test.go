package buildpackage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// writeComponent writes a component buildpack (bin/detect, bin/build)
// under dir/name and returns its directory.
func writeComponent(t *testing.T, dir, name, id, version, extraTOML string) string {
	t.Helper()
	bp := filepath.Join(dir, name)
	files := map[string]string{
		"buildpack.toml": fmt.Sprintf("api = \"0.10\"\n[buildpack]\nid = %q\nversion = %q\nhomepage = \"https://example.com/%s\"\n%s", id, version, name, extraTOML),
		"bin/detect":     "#!/bin/sh\nexit 0\n",
		"bin/build":      "#!/bin/sh\necho building " + id + "\n",
	}
	for rel, content := range files {
		p := filepath.Join(bp, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(rel, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return bp
}

// writeComposite writes a composite buildpack whose order is one group of
// members ("id@version", a trailing "?" makes an entry optional).
func writeComposite(t *testing.T, dir, name, id, version string, members ...string) string {
	t.Helper()
	bp := filepath.Join(dir, name)
	if err := os.MkdirAll(bp, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "api = \"0.10\"\n[buildpack]\nid = %q\nversion = %q\n[[order]]\n", id, version)
	for _, m := range members {
		opt := strings.HasSuffix(m, "?")
		m = strings.TrimSuffix(m, "?")
		mid, mver, _ := strings.Cut(m, "@")
		fmt.Fprintf(&b, "[[order.group]]\nid = %q\nversion = %q\noptional = %v\n", mid, mver, opt)
	}
	if err := os.WriteFile(filepath.Join(bp, "buildpack.toml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return bp
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func diffIDs(t *testing.T, img v1.Image) []string {
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

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func layerOpts(t *testing.T) LayerOptions {
	return LayerOptions{TempDir: t.TempDir()}
}

var bg = context.Background()
