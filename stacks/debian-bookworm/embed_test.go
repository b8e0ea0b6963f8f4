package debianbookworm

import (
	"slices"
	"testing"

	"github.com/kiln-build/kiln/stacks/debian"
	"github.com/kiln-build/kiln/stacks/stack"
)

// TestStack checks the shipped recipe decodes and asks for what the
// issue requires of each image.
func TestStack(t *testing.T) {
	s, err := Stack()
	if err != nil {
		t.Fatal(err)
	}
	build, run := s.Recipes()
	for _, p := range []string{"bash", "coreutils", "ca-certificates", "git", "curl", "xz-utils", "tar", "gcc", "libc6-dev", "make", "python3"} {
		if !slices.Contains(build.Packages, p) {
			t.Errorf("build image lacks package %s", p)
		}
	}
	for _, p := range []string{"libc6", "ca-certificates", "tzdata", "netbase"} {
		if !slices.Contains(run.Packages, p) {
			t.Errorf("run image lacks package %s", p)
		}
	}
	for _, p := range []string{"/bin/*", "/usr/bin/*", "/sbin/*", "/usr/sbin/*"} {
		if !slices.Contains(run.Remove, p) {
			t.Errorf("run image keeps %s (no shell, no package manager)", p)
		}
	}
	if run.Variant != "custom" {
		t.Errorf("run variant = %q, want custom (an explicit package list)", run.Variant)
	}
	for _, r := range []debian.Recipe{build, run} {
		if r.Labels[stack.LabelMaintainer] == "" || r.Labels[stack.LabelRebasable] != "true" || r.StackID == "" {
			t.Errorf("%s recipe: labels %v, stack id %q", r.Kind, r.Labels, r.StackID)
		}
	}
	if s.BuildImageName() != "kiln/debian-bookworm-build:latest" || s.RunImageName() != "kiln/debian-bookworm-run:latest" {
		t.Errorf("image names %s, %s", s.BuildImageName(), s.RunImageName())
	}
}
