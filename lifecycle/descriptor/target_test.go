package descriptor

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRunTargetMatches(t *testing.T) {
	bookwormAMD := RunTarget{OS: "linux", Arch: "amd64", DistroName: "debian", DistroVersion: "12"}
	armV8 := RunTarget{OS: "linux", Arch: "arm64", ArchVariant: "v8"}
	tests := []struct {
		name    string
		run     RunTarget
		targets []Target
		want    bool
	}{
		{"no targets match anything", bookwormAMD, nil, true},
		{"os only", bookwormAMD, []Target{{OS: "linux"}}, true},
		{"wrong os", bookwormAMD, []Target{{OS: "windows"}}, false},
		{"wrong arch", bookwormAMD, []Target{{OS: "linux", Arch: "arm64"}}, false},
		{"second target matches", bookwormAMD, []Target{{OS: "linux", Arch: "arm64"}, {OS: "linux", Arch: "amd64"}}, true},
		{"star arch", bookwormAMD, []Target{{OS: "linux", Arch: "*"}}, true},
		{"variant matches", armV8, []Target{{OS: "linux", Arch: "arm64", Variant: "v8"}}, true},
		{"variant differs", armV8, []Target{{OS: "linux", Arch: "arm64", Variant: "v7"}}, false},
		{"run variant unknown", bookwormAMD, []Target{{OS: "linux", Variant: "v3"}}, true},
		{"distro matches", bookwormAMD, []Target{{OS: "linux", Distros: []Distro{{Name: "ubuntu", Version: "22.04"}, {Name: "debian", Version: "12"}}}}, true},
		{"distro name only", bookwormAMD, []Target{{Distros: []Distro{{Name: "debian"}}}}, true},
		{"distro version differs", bookwormAMD, []Target{{Distros: []Distro{{Name: "debian", Version: "11"}}}}, false},
		{"distro name differs", bookwormAMD, []Target{{Distros: []Distro{{Name: "ubuntu"}}}}, false},
		{"run distro unknown", armV8, []Target{{Distros: []Distro{{Name: "ubuntu", Version: "22.04"}}}}, true},
		{"wildcard target", bookwormAMD, []Target{{}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run.MatchesAny(tc.targets); got != tc.want {
				t.Errorf("MatchesAny(%+v) = %v, want %v", tc.targets, got, tc.want)
			}
		})
	}
}

func TestRunTargetEnv(t *testing.T) {
	got := RunTarget{OS: "linux", Arch: "arm64", ArchVariant: "v8", DistroName: "debian", DistroVersion: "12"}.Env()
	want := []string{
		"CNB_TARGET_OS=linux",
		"CNB_TARGET_ARCH=arm64",
		"CNB_TARGET_ARCH_VARIANT=v8",
		"CNB_TARGET_DISTRO_NAME=debian",
		"CNB_TARGET_DISTRO_VERSION=12",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Env() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"CNB_TARGET_OS=linux"}, RunTarget{OS: "linux"}.Env()); diff != "" {
		t.Errorf("Env() with unknowns mismatch (-want +got):\n%s", diff)
	}
}

func TestRunTargetSetEnv(t *testing.T) {
	vars := map[string]string{"CNB_TARGET_OS": "stale", "CNB_TARGET_ARCH_VARIANT": "stale", "OTHER": "kept"}
	RunTarget{OS: "linux", Arch: "arm64"}.SetEnv(
		func(k, v string) { vars[k] = v },
		func(k string) { delete(vars, k) },
	)
	want := map[string]string{"CNB_TARGET_OS": "linux", "CNB_TARGET_ARCH": "arm64", "OTHER": "kept"}
	if diff := cmp.Diff(want, vars); diff != "" {
		t.Errorf("SetEnv mismatch (-want +got):\n%s", diff)
	}
}
