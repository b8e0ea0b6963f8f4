package buildpackage

import (
	"strings"
	"testing"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

func TestCheckTarget(t *testing.T) {
	entry := func(ts ...descriptor.Target) Buildpack {
		d := &descriptor.Buildpack{Targets: ts}
		d.Buildpack.ID, d.Buildpack.Version = "ex/bp", "1.0.0"
		return Buildpack{Descriptor: d}
	}
	amd, arm := descriptor.Target{OS: "linux", Arch: "amd64"}, descriptor.Target{OS: "linux", Arch: "arm64"}
	for _, tc := range []struct {
		name    string
		cfg     Config
		entry   Buildpack
		arch    string
		wantErr string
	}{
		{name: "declared", entry: entry(amd, arm), arch: "arm64"},
		{name: "no targets: any", entry: entry(), arch: "arm64"},
		{name: "a wildcard arch", entry: entry(descriptor.Target{OS: "linux", Arch: "*"}), arch: "arm64"},
		{name: "another os", entry: entry(descriptor.Target{OS: "windows", Arch: "arm64"}), arch: "arm64", wantErr: "has no target for linux/arm64"},
		{name: "buildpack lacks it", entry: entry(amd), arch: "arm64", wantErr: "buildpack ex/bp@1.0.0 has no target for linux/arm64 (its [[targets]]: linux/amd64)"},
		{name: "package.toml lacks it", cfg: Config{Path: "package.toml", Targets: []ConfigTarget{{OS: "linux", Arch: "amd64"}}}, entry: entry(), arch: "arm64", wantErr: "package.toml: [[targets]] are linux/amd64: none is linux/arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkTarget(&tc.cfg, tc.entry, tc.arch, "")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
