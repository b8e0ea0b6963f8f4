package builder

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/buildpackage"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

func TestCheckPlatform(t *testing.T) {
	bp := func(id string, targets ...descriptor.Target) buildpackage.Buildpack {
		d := &descriptor.Buildpack{Targets: targets}
		d.Buildpack.ID, d.Buildpack.Version = id, "1.0.0"
		return buildpackage.Buildpack{Descriptor: d}
	}
	amd := descriptor.Target{OS: "linux", Arch: "amd64"}
	arm := descriptor.Target{OS: "linux", Arch: "arm64"}
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	for _, tc := range []struct {
		name    string
		targets []ConfigTarget
		bps     []buildpackage.Buildpack
		wantErr string
	}{
		{name: "all declare it", targets: []ConfigTarget{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}}, bps: []buildpackage.Buildpack{bp("a", amd, arm), bp("any")}},
		{name: "no targets in the file", bps: []buildpackage.Buildpack{bp("a", arm)}},
		{name: "a wildcard arch, as the build takes it", bps: []buildpackage.Buildpack{bp("w", descriptor.Target{OS: "linux", Arch: "*"})}},
		{name: "file lacks it", targets: []ConfigTarget{{OS: "linux", Arch: "amd64"}}, wantErr: "no target for platform linux/arm64/v8"},
		{name: "buildpack lacks it", bps: []buildpackage.Buildpack{bp("a", arm), bp("kiln/amd-only", amd)}, wantErr: "buildpack kiln/amd-only@1.0.0 has no target for platform linux/arm64/v8 (its [[targets]]: linux/amd64)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkPlatform(&Config{Path: "builder.toml", Targets: tc.targets}, arm64, tc.bps)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
