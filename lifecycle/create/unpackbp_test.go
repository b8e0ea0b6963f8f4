package create

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// A packaged buildpack's layer comes from a .cnb file or an image: only
// its own cnb/buildpacks/<id>/<version> tree is unpacked; an entry
// anywhere else fails the unpack and nothing of it is written.
func TestUnpackBuildpackConfined(t *testing.T) {
	ctx := context.Background()
	toml := []byte("api = \"0.10\"\n[buildpack]\nid = \"ex/bp\"\nversion = \"1.0.0\"\n")
	layer := func(t *testing.T, extra ...archive.Entry) buildpackage.Buildpack {
		tr := archive.NewTar()
		for _, e := range append([]archive.Entry{
			archive.File("cnb/buildpacks/ex_bp/1.0.0/buildpack.toml", 0o644, archive.Owner{}, toml),
			archive.File("cnb/buildpacks/ex_bp/1.0.0/bin/build", 0o755, archive.Owner{}, []byte("#!/bin/sh\n")),
			archive.File("cnb/buildpacks/ex_bp/1.0.0/bin/detect", 0o755, archive.Owner{}, []byte("#!/bin/sh\n")),
		}, extra...) {
			if err := tr.Add(e); err != nil {
				t.Fatal(err)
			}
		}
		l, err := archive.NewLayer(ctx, tr, archive.WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		d := &descriptor.Buildpack{}
		d.Buildpack.ID, d.Buildpack.Version = "ex/bp", "1.0.0"
		return buildpackage.Buildpack{Descriptor: d, Layer: l, Source: "test.cnb"}
	}
	dir := t.TempDir()
	if err := unpackBuildpack(ctx, layer(t), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ex_bp", "1.0.0", "bin", "build")); err != nil {
		t.Errorf("the buildpack was not unpacked: %v", err)
	}
	for _, name := range []string{"etc/evil", "cnb/buildpacks/other/1.0.0/bin/build", "cnb/buildpacks/ex_bp/2.0.0/bin/build"} {
		dir := t.TempDir()
		err := unpackBuildpack(ctx, layer(t, archive.File(name, 0o755, archive.Owner{}, []byte("x"))), dir)
		if err == nil || !strings.Contains(err.Error(), "is outside") {
			t.Errorf("a layer with %s: %v, want it refused as outside the buildpack", name, err)
		}
	}
}
