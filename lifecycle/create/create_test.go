package create

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/builder"
)

func TestWritePlatformEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		want    map[string]string
		wantErr string
	}{
		{name: "pairs", env: []string{"B=2", "A=x=y", "EMPTY="}, want: map[string]string{"A": "x=y", "B": "2", "EMPTY": ""}},
		{name: "no equals", env: []string{"A"}, wantErr: `--env "A"`},
		{name: "slash", env: []string{"../x=1"}, wantErr: "want KEY=VALUE"},
		{name: "dotdot", env: []string{"..=1"}, wantErr: "want KEY=VALUE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "env"), 0o755)
			err := writePlatformEnv(dir, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				b, err := os.ReadFile(filepath.Join(dir, "env", k))
				if err != nil || string(b) != v {
					t.Errorf("%s = %q, %v; want %q", k, b, err, v)
				}
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    time.Time
		wantErr bool
	}{
		{"", archive.DefaultModTime, false},
		{"0", time.Unix(0, 0).UTC(), false},
		{"1700000000", time.Unix(1700000000, 0).UTC(), false},
		{"soon", time.Time{}, true},
		{"-5", time.Time{}, true},
	} {
		t.Setenv("SOURCE_DATE_EPOCH", tc.env)
		got, err := SourceDateEpoch()
		if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
			t.Errorf("SOURCE_DATE_EPOCH=%q: %v, %v", tc.env, got, err)
		}
	}
}

func TestChooseRunImage(t *testing.T) {
	b := &builder.Builder{Run: builder.RunImages{Images: []builder.RunImage{{Image: "reg/run:1", Mirrors: []string{"m/run:1"}}}}}
	if n, m, err := chooseRunImage(b, ""); err != nil || n != "reg/run:1" || len(m) != 1 {
		t.Errorf("builder's: %q %v %v", n, m, err)
	}
	if n, m, err := chooseRunImage(b, "other/run:2"); err != nil || n != "other/run:2" || m != nil {
		t.Errorf("override: %q %v %v", n, m, err)
	}
	if _, _, err := chooseRunImage(&builder.Builder{}, ""); err == nil || !strings.Contains(err.Error(), "--run-image") {
		t.Errorf("no run image: %v", err)
	}
}

func TestCacheDirFor(t *testing.T) {
	a, b := cacheDirFor("/c", "app:latest"), cacheDirFor("/c", "other:latest")
	if a == b || !strings.HasPrefix(a, "/c/layers/") || cacheDirFor("/c", "app:latest") != a {
		t.Errorf("cacheDirFor: %s %s", a, b)
	}
}

func TestBuildEnv(t *testing.T) {
	got := buildEnv([]string{"PATH=/bin"}, archive.DefaultModTime)
	want := []string{"PATH=/bin", "CNB_PLATFORM_API=0.15", "SOURCE_DATE_EPOCH=315532801"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("buildEnv = %q, want %q", got, want)
	}
	got = buildEnv([]string{"SOURCE_DATE_EPOCH=7"}, archive.DefaultModTime)
	if strings.Count(strings.Join(got, " "), "SOURCE_DATE_EPOCH") != 1 {
		t.Errorf("the builder's SOURCE_DATE_EPOCH was not kept: %q", got)
	}
}
