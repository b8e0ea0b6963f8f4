package debian

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMmdebstrapArgs(t *testing.T) {
	tests := []struct {
		name string
		r    Recipe
		mode string
		want []string
	}{{
		name: "defaults",
		r:    Recipe{Suite: "bookworm", Arch: "amd64"},
		mode: "root",
		want: []string{"--mode=root", "--format=tar", "--variant=minbase", "--architectures=amd64", "--components=main",
			"--", "bookworm", "/w/rootfs.tar", DefaultMirror},
	}, {
		name: "packages, components and extra sources",
		r: Recipe{Suite: "bookworm", Arch: "arm64", Variant: "essential", Packages: []string{"git", "ca-certificates"},
			Components: []string{"main", "contrib"}, Mirror: "http://mirror.example/debian",
			Sources: []string{"deb http://deb.debian.org/debian-security bookworm-security main"}},
		mode: "unshare",
		want: []string{"--mode=unshare", "--format=tar", "--variant=essential", "--architectures=arm64", "--components=main,contrib",
			"--include=ca-certificates,git",
			"--", "bookworm", "/w/rootfs.tar", "http://mirror.example/debian",
			"deb http://deb.debian.org/debian-security bookworm-security main"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mmdebstrapArgs(tc.r.normalize(), "/w/rootfs.tar", tc.mode)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlame(t *testing.T) {
	r := Recipe{
		Suite:   "bookworm",
		Mirror:  "http://deb.debian.org/debian",
		Sources: []string{"deb http://security.example/debian-security bookworm-security main"},
	}
	tests := []struct {
		name       string
		lines      []string
		key, value string
	}{{
		name: "unknown package",
		lines: []string{
			"Building dependency tree...",
			"E: Unable to locate package kiln-no-such-package",
			"E: setup failed: E: apt-get ... install ca-certificates kiln-no-such-package failed",
			"E: mmdebstrap failed to run",
		},
		key: "packages", value: "kiln-no-such-package",
	}, {
		name:  "virtual package",
		lines: []string{"E: Package 'awk' has no installation candidate"},
		key:   "packages", value: "awk",
	}, {
		name:  "missing version",
		lines: []string{"E: Version '9.9' for 'bash' was not found"},
		key:   "packages", value: "bash",
	}, {
		name: "unknown suite",
		lines: []string{
			"Err:2 http://deb.debian.org/debian nosuchsuite Release",
			"  404  Not Found [IP: 203.0.113.80 80]",
			"E: The repository 'http://deb.debian.org/debian bookworm Release' does not have a Release file.",
			"E: mmdebstrap failed to run",
		},
		key: "suite", value: "bookworm",
	}, {
		name:  "extra source without release",
		lines: []string{"E: The repository 'http://security.example/debian-security bookworm-security Release' does not have a Release file."},
		key:   "sources", value: r.Sources[0],
	}, {
		name:  "unreachable mirror",
		lines: []string{"Err:1 http://deb.debian.org/debian bookworm InRelease", "  Could not resolve 'deb.debian.org'"},
		key:   "mirror", value: r.Mirror,
	}, {
		name:  "unreachable extra source",
		lines: []string{"  Could not resolve 'security.example'"},
		key:   "sources", value: r.Sources[0],
	}, {
		name:  "something else",
		lines: []string{"E: mmdebstrap failed to run"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, value := blame(r, tc.lines)
			if key != tc.key || value != tc.value {
				t.Errorf("blame = %q, %q; want %q, %q", key, value, tc.key, tc.value)
			}
		})
	}
}

func TestToolError(t *testing.T) {
	cause := errors.New("exit status 25")
	err := fmt.Errorf("building: %w", &ToolError{
		Key: "packages", Value: "nope", Tail: []string{"E: Unable to locate package nope", "E: mmdebstrap failed to run"}, Err: cause,
	})
	want := "building: mmdebstrap failed: recipe packages: \"nope\" is not a package apt can install from this mirror and suite (exit status 25); last output:\n" +
		"  E: Unable to locate package nope\n  E: mmdebstrap failed to run"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant:\n%s", err, want)
	}
	var te *ToolError
	if !errors.As(err, &te) || !errors.Is(err, cause) {
		t.Errorf("errors.As/Is do not see through the wrapping")
	}
}

func TestTailLines(t *testing.T) {
	tl := &tailLines{n: 3}
	for _, chunk := range []string{"one\ntw", "o\n\n  \nthree\r\nfour\nfi", "ve"} {
		if _, err := tl.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"three", "four", "five"}, tl.Lines()); diff != "" {
		t.Errorf("Lines (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(tl.Lines(), "|"), "five") {
		t.Error("unterminated last line lost")
	}
}

// FuzzBlame feeds arbitrary tool output: blame must name a known recipe
// key, or none, and a value taken from the recipe or the output.
func FuzzBlame(f *testing.F) {
	f.Add("E: Unable to locate package nope\nE: mmdebstrap failed to run")
	f.Add("E: The repository 'http://deb.debian.org/debian sid Release' does not have a Release file.")
	f.Add("  Could not resolve 'deb.debian.org'")
	r := Recipe{Suite: "bookworm", Mirror: DefaultMirror, Sources: []string{"deb http://x.example/d s main"}}
	f.Fuzz(func(t *testing.T, out string) {
		key, value := blame(r, strings.Split(out, "\n"))
		switch key {
		case "":
			if value != "" {
				t.Fatalf("value %q without a key", value)
			}
		case "packages":
			if !strings.Contains(out, value) {
				t.Fatalf("package %q is not in the output", value)
			}
		case "suite", "mirror", "sources":
			if value != r.Suite && value != r.Mirror && value != r.Sources[0] {
				t.Fatalf("%s value %q is not from the recipe", key, value)
			}
		default:
			t.Fatalf("unknown key %q", key)
		}
	})
}
