package debian

import (
	"strings"
	"testing"
)

func TestArchiveFor(t *testing.T) {
	tests := []struct {
		distro, version, arch string
		env                   map[string]string
		wantSuite, wantArch   string
		wantErr               string
	}{
		{"debian", "12", "amd64", nil, "bookworm", "amd64", ""},
		{"debian", "13", "arm64", nil, "trixie", "arm64", ""},
		{"", "", "amd64", nil, DefaultSuite, "amd64", ""},
		{"debian", "12", "amd64", map[string]string{"BP_DEBIAN_SUITE": "bookworm-backports"}, "bookworm-backports", "amd64", ""},
		{"ubuntu", "22.04", "amd64", nil, "", "", "packages come from Debian"},
		{"debian", "7", "amd64", nil, "", "", "BP_DEBIAN_SUITE"},
		{"debian", "12", "mips", nil, "", "", "no Debian equivalent"},
	}
	for _, tt := range tests {
		a, err := ArchiveFor(tt.distro, tt.version, tt.arch, func(k string) string { return tt.env[k] }, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s %s: error %v, want %q", tt.distro, tt.version, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if a.Suite != tt.wantSuite || a.Arch != tt.wantArch {
			t.Errorf("%s %s: suite %s arch %s", tt.distro, tt.version, a.Suite, a.Arch)
		}
	}
}
