package debian

import "testing"

func TestArchFor(t *testing.T) {
	for _, tc := range []struct {
		os, arch, variant, want string
		wantErr                 bool
	}{
		{"linux", "amd64", "", "amd64", false},
		{"linux", "arm64", "", "arm64", false},
		{"linux", "arm64", "v8", "arm64", false},
		{"linux", "arm", "v7", "armhf", false},
		{"linux", "arm", "v5", "armel", false},
		{"linux", "arm", "", "armhf", false},
		{"linux", "ppc64le", "", "ppc64el", false},
		{"linux", "sparc", "", "", true},
		{"windows", "amd64", "", "", true},
	} {
		got, err := ArchFor(tc.os, tc.arch, tc.variant)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ArchFor(%s, %s, %s) = %q, %v; want %q (error %v)", tc.os, tc.arch, tc.variant, got, err, tc.want, tc.wantErr)
		}
	}
	if msg := QemuMissing(hostArch()); msg != "" {
		t.Errorf("QemuMissing(host) = %q, want none", msg)
	}
}
