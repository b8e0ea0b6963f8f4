package rebase

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

func TestMergeEnv(t *testing.T) {
	exported := []string{"CNB_USER_ID=1000", "LANG=C", "CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace", "CNB_PLATFORM_API=0.15", "PATH=/cnb/process:/usr/bin"}
	for _, tc := range []struct {
		name     string
		app, run []string
		want     []string
	}{
		{
			name: "same base gives the exporter's environment back",
			app:  exported,
			run:  []string{"CNB_USER_ID=1000", "LANG=C", "PATH=/usr/bin"},
			want: exported,
		},
		{
			name: "new base values win, dropped ones go, new ones come",
			app:  exported,
			run:  []string{"LANG=C.UTF-8", "PATH=/opt/bin:/usr/bin", "TZ=UTC"},
			want: []string{"LANG=C.UTF-8", "TZ=UTC", "CNB_USER_ID=1000", "CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace", "CNB_PLATFORM_API=0.15", "PATH=/cnb/process:/opt/bin:/usr/bin"},
		},
		{
			name: "the base's CNB_* values win, the exporter's never",
			app:  exported,
			run:  []string{"CNB_USER_ID=2000", "CNB_APP_DIR=/elsewhere", "PATH=/usr/bin"},
			want: []string{"CNB_USER_ID=2000", "CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace", "CNB_PLATFORM_API=0.15", "PATH=/cnb/process:/usr/bin"},
		},
		{
			name: "a base without PATH gets the exporter's default",
			app:  exported,
			run:  []string{"LANG=C"},
			want: []string{"LANG=C", "CNB_USER_ID=1000", "CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace", "CNB_PLATFORM_API=0.15", "PATH=/cnb/process:" + defaultPath},
		},
		{
			name: "an app PATH without /cnb/process gets none",
			app:  []string{"PATH=/usr/bin"},
			run:  []string{"PATH=/opt/bin"},
			want: []string{"PATH=/opt/bin"},
		},
		{
			name: "neither has PATH",
			app:  []string{"A=1"},
			run:  []string{"B=2"},
			want: []string{"B=2"},
		},
		{
			name: "duplicates keep the first",
			app:  []string{"CNB_X=1", "CNB_X=2", "PATH=/cnb/process"},
			run:  []string{"B=1", "B=2", "PATH="},
			want: []string{"B=1", "CNB_X=1", "PATH=/cnb/process:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, MergeEnv(tc.app, tc.run)); d != "" {
				t.Errorf("MergeEnv (-want +got):\n%s", d)
			}
		})
	}
}

func TestRebaseHistory(t *testing.T) {
	created := v1.Time{Time: time.Date(1980, 1, 1, 0, 0, 1, 0, time.UTC)}
	e := func(s string, empty bool) v1.History { return v1.History{CreatedBy: s, EmptyLayer: empty} }
	newRun := []v1.History{e("new1", false), e("new ENV", true)}
	for _, tc := range []struct {
		name    string
		app     []v1.History
		from, n int
		run     []v1.History
		runN    int
		want    []v1.History
	}{
		{
			name: "base entries swapped, trailing empty base entries dropped",
			app:  []v1.History{e("old1", false), e("old2", false), e("old ENV", true), e("app1", false), e("app LABEL", true), e("app2", false)},
			from: 2, n: 4, run: newRun, runN: 1,
			want: []v1.History{e("new1", false), e("new ENV", true), e("app1", false), e("app LABEL", true), e("app2", false)},
		},
		{
			name: "app history that does not match its layers",
			app:  []v1.History{e("only", false)},
			from: 1, n: 3, run: newRun, runN: 1,
			want: []v1.History{e("new1", false), e("new ENV", true), {Created: created, CreatedBy: "kiln rebase: app layer"}, {Created: created, CreatedBy: "kiln rebase: app layer"}},
		},
		{
			name: "run image without history",
			app:  []v1.History{e("old1", false), e("app1", false)},
			from: 1, n: 2, run: nil, runN: 2,
			want: []v1.History{{Created: created, CreatedBy: "kiln rebase: run image layer"}, {Created: created, CreatedBy: "kiln rebase: run image layer"}, e("app1", false)},
		},
		{
			name: "no history anywhere",
			from: 1, n: 2, runN: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rebaseHistory(tc.app, tc.from, tc.n, tc.run, tc.runN, created)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("history (-want +got):\n%s", d)
			}
		})
	}
}

func TestBaseLabels(t *testing.T) {
	app := map[string]string{
		labels.BaseDistroVersion: "12", labels.BaseMaintainer: "old", labels.StackMixins: "[]",
		labels.Rebasable: "true", labels.LifecycleMetadata: "{}", "org.example": "app",
	}
	baseLabels(app, map[string]string{labels.BaseDistroVersion: "12.1", labels.StackID: "s", "org.example": "base", labels.Rebasable: "false"})
	want := map[string]string{
		labels.BaseDistroVersion: "12.1", labels.StackID: "s",
		labels.Rebasable: "true", labels.LifecycleMetadata: "{}", "org.example": "app",
	}
	if d := cmp.Diff(want, app); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
}

func TestUpdateLifecycleLabel(t *testing.T) {
	ri := labels.RunImage{Image: "r/run:1", Mirrors: []string{"m/run:1"}, TopLayer: "sha256:t2", Reference: "r/run@sha256:d2"}
	for _, tc := range []struct {
		name, in, want string
	}{
		{
			name: "exporter order kept",
			in:   `{"app":[{"sha":"sha256:a"}],"config":{"sha":"sha256:c"},"launcher":{"sha":"sha256:l"},"buildpacks":[],"runImage":{"image":"r/run:1","topLayer":"sha256:t1","reference":"r/run@sha256:d1"},"stack":{"runImage":{"image":"r/run:1"}}}`,
			want: `{"app":[{"sha":"sha256:a"}],"config":{"sha":"sha256:c"},"launcher":{"sha":"sha256:l"},"buildpacks":[],"runImage":{"image":"r/run:1","mirrors":["m/run:1"],"topLayer":"sha256:t2","reference":"r/run@sha256:d2"},"stack":{"runImage":{"image":"r/run:1","mirrors":["m/run:1"]}}}`,
		},
		{
			name: "unknown keys kept, sorted",
			in:   `{"zeta":{"n":12345678901234567890},"app":[],"runImage":{"topLayer":"sha256:t1"}}`,
			want: `{"app":[],"runImage":{"image":"r/run:1","mirrors":["m/run:1"],"reference":"r/run@sha256:d2","topLayer":"sha256:t2"},"zeta":{"n":12345678901234567890}}`,
		},
		{
			name: "no stack key: none added, nor the typed form's empty keys",
			in:   `{"runImage":{"topLayer":"sha256:t1"}}`,
			want: `{"runImage":{"image":"r/run:1","mirrors":["m/run:1"],"reference":"r/run@sha256:d2","topLayer":"sha256:t2"}}`,
		},
		{
			name: "keys a Go reader would take for runImage go",
			in:   `{"runimage":{"image":"stale"},"runImage":{"topLayer":"sha256:t1"}}`,
			want: `{"runImage":{"image":"r/run:1","mirrors":["m/run:1"],"reference":"r/run@sha256:d2","topLayer":"sha256:t2"}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UpdateLifecycleLabel(tc.in, ri)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("label\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "null", "[]", `"x"`, "{", `{} {}`, `{}]`} {
		if _, err := UpdateLifecycleLabel(bad, ri); !errors.Is(err, ErrNotAppImage) {
			t.Errorf("UpdateLifecycleLabel(%q) error = %v, want ErrNotAppImage", bad, err)
		}
	}
}

// FuzzUpdateLifecycleLabel: any label text either fails cleanly or comes
// back as a JSON object with the new runImage and every other key intact.
func FuzzUpdateLifecycleLabel(f *testing.F) {
	for _, s := range []string{
		`{"app":[{"sha":"sha256:a"}],"runImage":{"image":"r","topLayer":"sha256:t"},"stack":{"runImage":{"image":"r"}}}`,
		`{"buildpacks":[{"key":"a","version":"1","layers":{"l":{"sha":"s","data":{"x":1.5e300},"launch":true}}}]}`,
		`{"x":"<&>"}`, `{}`, `null`, `{"stack":null}`,
	} {
		f.Add(s)
	}
	ri := labels.RunImage{Image: "r/run:2", TopLayer: "sha256:t2", Reference: "r/run@sha256:d2"}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := UpdateLifecycleLabel(in, ri)
		if err != nil {
			if !errors.Is(err, ErrNotAppImage) && !strings.Contains(err.Error(), "encoding label") {
				t.Fatalf("error without ErrNotAppImage: %v", err)
			}
			return
		}
		var before, after map[string]any
		if err := json.Unmarshal([]byte(in), &before); err != nil {
			t.Fatalf("accepted input that is not a JSON object: %v", err)
		}
		if err := json.Unmarshal([]byte(out), &after); err != nil {
			t.Fatalf("output is not a JSON object: %v\n%s", err, out)
		}
		// What a Go reader of the label sees as runImage.
		var md struct {
			RunImage labels.RunImage `json:"runImage"`
		}
		if err := json.Unmarshal([]byte(out), &md); err != nil {
			t.Fatalf("output's runImage does not decode: %v\n%s", err, out)
		}
		if d := cmp.Diff(ri, md.RunImage); d != "" {
			t.Errorf("runImage (-want +got):\n%s", d)
		}
		for k := range before {
			if _, ok := after[k]; !ok && !strings.EqualFold(k, "runImage") && !strings.EqualFold(k, "stack") {
				t.Errorf("key %q lost", k)
			}
		}
	})
}
