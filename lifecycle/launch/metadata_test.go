package launch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetadataRoundTrip(t *testing.T) {
	m := Metadata{
		BuildpackDefaultProcessType: "web",
		Buildpacks: []MetadataBuildpack{
			{ID: "kiln/go", Version: "1.0.0", API: "0.12"},
			{ID: "kiln/procfile", Version: "0.1.0", API: "0.12", Homepage: "https://x", Optional: true},
		},
		Processes: []MetadataProcess{
			{Type: "web", Command: []string{"/layers/kiln_go/app/bin/app"}, Args: []string{"serve"}, Direct: true, WorkingDir: "/workspace", ExecEnv: []string{"*"}, BuildpackID: "kiln/go"},
			{Type: "test", Command: []string{"go", "test"}, Args: []string{}, Direct: true, WorkingDir: "/workspace", ExecEnv: []string{"test"}, BuildpackID: "kiln/go"},
		},
		Slices: []Slice{{Paths: []string{"static/*"}}},
		Labels: []Label{{Key: "a", Value: "b"}},
	}
	p := filepath.Join(t.TempDir(), "metadata.toml")
	if err := WriteMetadata(p, m); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`buildpack-default-process-type = "web"`, "[[buildpacks]]", "[[processes]]", `buildpack-id = "kiln/go"`, `working-dir = "/workspace"`, "direct = true", `exec-env = ["*"]`, "[[slices]]", "[[labels]]"} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("metadata.toml lacks %s:\n%s", key, raw)
		}
	}
	got, err := ReadMetadata(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if proc, ok := got.Process("test"); !ok || proc.BuildpackID != "kiln/go" {
		t.Errorf("Process(test) = %+v, %v", proc, ok)
	}
	if bp, ok := got.Buildpack("kiln/procfile"); !ok || bp.Version != "0.1.0" {
		t.Errorf("Buildpack(kiln/procfile) = %+v, %v", bp, ok)
	}
	if _, ok := got.Process("nope"); ok {
		t.Error("Process(nope) found")
	}
}

func TestMetadataValidate(t *testing.T) {
	proc := func(typ string) MetadataProcess {
		return MetadataProcess{Type: typ, Command: []string{"x"}, Direct: true}
	}
	tests := []struct {
		name    string
		m       Metadata
		wantErr string
	}{
		{"ok empty", Metadata{}, ""},
		{"bp without api", Metadata{Buildpacks: []MetadataBuildpack{{ID: "a", Version: "1"}}}, "api are required"},
		{"bad type", Metadata{Processes: []MetadataProcess{proc("a b")}}, "must match"},
		{"duplicate", Metadata{Processes: []MetadataProcess{proc("a"), proc("a")}}, "appears twice"},
		{"empty command", Metadata{Processes: []MetadataProcess{{Type: "a"}}}, "command is empty"},
		{"dangling default", Metadata{BuildpackDefaultProcessType: "web", Processes: []MetadataProcess{proc("a")}}, `"web" is not among`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
			p := filepath.Join(t.TempDir(), "metadata.toml")
			if werr := WriteMetadata(p, tt.m); werr == nil || !strings.Contains(werr.Error(), p) {
				t.Errorf("WriteMetadata err = %v, want one naming %s", werr, p)
			}
		})
	}
}

func TestAppliesTo(t *testing.T) {
	tests := []struct {
		execEnv []string
		env     string
		want    bool
	}{
		{nil, "production", true},
		{[]string{"*"}, "test", true},
		{[]string{"test"}, "test", true},
		{[]string{"test", "development"}, "production", false},
	}
	for _, tt := range tests {
		if got := (MetadataProcess{ExecEnv: tt.execEnv}).AppliesTo(tt.env); got != tt.want {
			t.Errorf("AppliesTo(%v, %q) = %v, want %v", tt.execEnv, tt.env, got, tt.want)
		}
	}
}

// What a build hands back in metadata.toml is bounded: each limit refuses
// one past it, naming what it counted, and takes what is at it.
func TestMetadataLimits(t *testing.T) {
	procs := func(n, args int) []MetadataProcess {
		ps := make([]MetadataProcess, n)
		for i := range ps {
			ps[i] = MetadataProcess{Type: fmt.Sprintf("p%d", i), Command: []string{"x"}, Args: make([]string, args), Direct: true}
		}
		return ps
	}
	slices := func(n, paths int) []Slice {
		ss := make([]Slice, n)
		for i := range ss {
			ss[i] = Slice{Paths: make([]string, paths)}
			for j := range ss[i].Paths {
				ss[i].Paths[j] = "a"
			}
		}
		return ss
	}
	labels := func(n, size int) []Label {
		ls := make([]Label, n)
		for i := range ls {
			ls[i] = Label{Key: fmt.Sprintf("k%d", i), Value: strings.Repeat("v", size)}
		}
		return ls
	}
	for _, tc := range []struct {
		name    string
		m       Metadata
		wantErr string
	}{
		{"processes at the limit", Metadata{Processes: procs(MaxProcesses, 0)}, ""},
		{"processes", Metadata{Processes: procs(MaxProcesses+1, 0)}, "process types declared"},
		{"arguments", Metadata{Processes: procs(1, MaxArgs)}, "arguments"},
		{"slices", Metadata{Slices: slices(MaxSlices+1, 1)}, "slices declared"},
		{"slice paths at the limit", Metadata{Slices: slices(10, MaxSlicePaths/10)}, ""},
		{"slice paths", Metadata{Slices: slices(10, MaxSlicePaths/10+1)}, "slice paths declared"},
		{"labels", Metadata{Labels: labels(MaxLabels+1, 1)}, "labels declared"},
		{"one label", Metadata{Labels: labels(1, MaxLabelBytes)}, "per label"},
		{"labels in all", Metadata{Labels: labels(MaxLabelTotal/(MaxLabelBytes/2)+1, MaxLabelBytes/2)}, "labels total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.m.checkLimits()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}
