package defaultbuilder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// writeBuildpack writes a minimal component buildpack kiln/<name> in
// root/<name>.
func writeBuildpack(t *testing.T, root, name string) {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := "api = \"0.12\"\n[buildpack]\nid = \"kiln/" + name + "\"\nversion = \"0.1.0\"\n"
	if err := os.WriteFile(filepath.Join(dir, "buildpack.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "build"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("build", filepath.Join(dir, "bin", "detect")); err != nil {
		t.Fatal(err)
	}
}

func group(entries ...string) descriptor.Group {
	var g descriptor.Group
	for _, e := range entries {
		id, optional := strings.CutSuffix(e, "?")
		g.Group = append(g.Group, descriptor.GroupEntry{ID: id, Version: "0.1.0", Optional: optional})
	}
	return g
}

// openBuildpacks finds and opens the buildpacks as Ensure does.
func openBuildpacks(ctx context.Context, workDir string) (*buildpackSet, string, error) {
	src, err := FindBuildpacks(nil, "")
	if err != nil {
		return nil, "", err
	}
	d, err := src.digest()
	if err != nil {
		return nil, "", err
	}
	set, err := src.open(ctx, workDir)
	return set, d, err
}

// TestOpenBuildpacks checks the default order kept to the buildpacks at
// hand, an order.toml overriding it, and the tree's fingerprint.
func TestOpenBuildpacks(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, n := range []string{"static", "go", "procfile"} {
		writeBuildpack(t, root, n)
	}
	t.Setenv("KILN_BUILDPACKS", root)
	set, digest, err := openBuildpacks(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if got, want := strings.Join(set.refs(), " "), "kiln/go@0.1.0 kiln/procfile@0.1.0 kiln/static@0.1.0"; got != want {
		t.Errorf("buildpacks %q, want %q", got, want)
	}
	// No nodejs or python: their groups go; nodejs's optional static
	// does not matter.
	want := descriptor.Order{
		group("kiln/go", "kiln/procfile?"),
		group("kiln/static", "kiln/procfile?"),
		group("kiln/procfile"),
	}
	if diff := cmp.Diff(want, set.order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}

	// Changing a file changes the fingerprint; reading again does not.
	_, again, err := openBuildpacks(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if again != digest {
		t.Error("the fingerprint changed without a change")
	}
	if err := os.WriteFile(filepath.Join(root, "go", "bin", "build"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, changed, err := openBuildpacks(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if changed == digest {
		t.Error("the fingerprint did not change with a buildpack")
	}

	// An order.toml at the top wins; versions left out are filled in.
	if err := os.WriteFile(filepath.Join(root, "order.toml"), []byte("[[order]]\n[[order.group]]\nid = \"kiln/static\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	custom, _, err := openBuildpacks(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(descriptor.Order{group("kiln/static")}, custom.order); diff != "" {
		t.Errorf("order from order.toml (-want +got):\n%s", diff)
	}
	if err := os.WriteFile(filepath.Join(root, "order.toml"), []byte("[[order]]\n[[order.group]]\nid = \"kiln/nodejs\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openBuildpacks(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "kiln/nodejs") || !strings.Contains(err.Error(), "order.toml") {
		t.Errorf("an order naming a missing buildpack: %v", err)
	}
}

func TestOpenBuildpacksErrors(t *testing.T) {
	ctx := context.Background()
	empty := t.TempDir()
	t.Setenv("KILN_BUILDPACKS", empty)
	if _, _, err := openBuildpacks(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no buildpack.toml") {
		t.Errorf("an empty tree: %v", err)
	}
	// Only buildpacks no default group can be made of.
	writeBuildpack(t, empty, "nodejs-helper")
	if _, _, err := openBuildpacks(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no group") {
		t.Errorf("no usable group: %v", err)
	}
	t.Setenv("KILN_BUILDPACKS", filepath.Join(empty, "missing"))
	if _, _, err := openBuildpacks(ctx, t.TempDir()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing dir: %v", err)
	}
}

// TestEmbeddedBuildpacks opens buildpacks from a gzip-compressed tar as
// `make build` embeds them: modes and the detect symlink survive, and the
// fingerprint is the archive's.
func TestEmbeddedBuildpacks(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"go", "procfile"} {
		writeBuildpack(t, root, n)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h.Name = "./" + filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	src := Buildpacks{tarGz: buf.Bytes()}
	d1, err := src.digest()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KILN_BUILDPACKS", "")
	// The sum `make kiln` writes beside the archive stands for hashing it;
	// one that is not a sha256 in hex is ignored.
	sum := sha256.Sum256(buf.Bytes())
	for _, c := range []struct{ given, want string }{
		{hex.EncodeToString(sum[:]) + "\n", d1},
		{"not-a-sum", d1},
		{strings.Repeat("ab", 32), "sha256:" + strings.Repeat("ab", 32)},
	} {
		given, err := FindBuildpacks(buf.Bytes(), c.given)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := given.digest(); got != c.want {
			t.Errorf("embedded sum %q: digest %s, want %s", c.given, got, c.want)
		}
	}
	other := Buildpacks{tarGz: append(bytes.Clone(buf.Bytes()), 0)}
	if d2, _ := other.digest(); d2 == d1 {
		t.Error("different archives give one fingerprint")
	}
	work := t.TempDir()
	set, err := src.open(context.Background(), work)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(set.refs(), " "); got != "kiln/go@0.1.0 kiln/procfile@0.1.0" {
		t.Errorf("buildpacks %q", got)
	}
	goDir := set.list[0].Dir
	if fi, err := os.Stat(filepath.Join(goDir, "bin", "build")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("bin/build lost its exec bit: %v %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(goDir, "bin", "detect")); err != nil || l != "build" {
		t.Errorf("bin/detect -> %q, %v", l, err)
	}
	set.Close()
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("Close left %d entries in the work dir", len(entries))
	}
}
