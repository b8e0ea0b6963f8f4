package env

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/internal/testutil"
)

func TestNewEnviron(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"empty", nil, []string{}},
		{"order kept", []string{"B=2", "A=1"}, []string{"B=2", "A=1"}},
		{"later duplicate replaces in place", []string{"A=1", "B=2", "A=3"}, []string{"A=3", "B=2"}},
		{"value with equals", []string{"A=x=y"}, []string{"A=x=y"}},
		{"no equals is empty value", []string{"A"}, []string{"A="}},
		{"empty name dropped", []string{"=x", "B=1"}, []string{"B=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, New(tt.in).Environ()); diff != "" {
				t.Errorf("Environ() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetUnsetClone(t *testing.T) {
	e := New([]string{"A=1", "B=2", "C=3"})
	c := e.Clone()
	e.Unset("B")
	e.Set("D", "4")
	e.Unset("missing")
	if diff := cmp.Diff([]string{"A=1", "C=3", "D=4"}, e.Environ()); diff != "" {
		t.Errorf("after Unset/Set (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"A=1", "B=2", "C=3"}, c.Environ()); diff != "" {
		t.Errorf("clone changed (-want +got):\n%s", diff)
	}
	var zero Env
	zero.Set("X", "y")
	if got := zero.Get("X"); got != "y" {
		t.Errorf("zero Env Get = %q, want y", got)
	}
}

func TestModify(t *testing.T) {
	tests := []struct {
		name   string
		start  []string
		action Action
		value  string
		delim  string
		want   []string
	}{
		{"override set", []string{"V=old"}, Override, "new", "", []string{"V=new"}},
		{"override unset", nil, Override, "new", "", []string{"V=new"}},
		{"default when unset", nil, Default, "d", "", []string{"V=d"}},
		{"default when empty", []string{"V="}, Default, "d", "", []string{"V=d"}},
		{"default keeps value", []string{"V=x"}, Default, "d", "", []string{"V=x"}},
		{"append no delim", []string{"V=a"}, Append, "b", "", []string{"V=ab"}},
		{"append delim", []string{"V=a"}, Append, "b", ":", []string{"V=a:b"}},
		{"append to empty has no delim", []string{"V="}, Append, "b", ":", []string{"V=b"}},
		{"prepend no delim", []string{"V=a"}, Prepend, "b", "", []string{"V=ba"}},
		{"prepend delim", []string{"V=a"}, Prepend, "b", ",", []string{"V=b,a"}},
		{"prepend unset", nil, Prepend, "b", ",", []string{"V=b"}},
		{"prepend-path on path var", []string{"PATH=/usr/bin"}, PrependPath, "/x", "", []string{"PATH=/x:/usr/bin"}},
		{"prepend-path on other var", []string{"V=a"}, PrependPath, "b", "", []string{"V=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(tt.start)
			name := "V"
			if len(tt.start) > 0 {
				name = New(tt.start).Names()[0]
			}
			e.Modify(name, tt.action, tt.value, tt.delim)
			if diff := cmp.Diff(tt.want, e.Environ()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPassThrough(t *testing.T) {
	in := []string{"PATH=/bin", "HOME=/home/cnb", "SECRET=x", "https_proxy=http://p:3128", "HOSTNAME=box", "CNB_USER_ID=1000", "NO_PROXY=localhost"}
	want := []string{"HOME=/home/cnb", "HOSTNAME=box", "https_proxy=http://p:3128", "NO_PROXY=localhost"}
	if diff := cmp.Diff(want, PassThrough(in)); diff != "" {
		t.Errorf("PassThrough (-want +got):\n%s", diff)
	}
}

func TestApplyEnvDirs(t *testing.T) {
	tests := []struct {
		name       string
		start      []string
		files      map[string]string
		dirs       []string
		unsuffixed Action
		want       []string
	}{
		{
			name:       "suffixes in one dir",
			start:      []string{"APP=a", "PRE=p", "DEF=set", "OVR=old"},
			files:      map[string]string{"env/APP.append": "X", "env/PRE.prepend": "Y", "env/DEF.default": "no", "env/NEWDEF.default": "yes", "env/OVR.override": "new"},
			dirs:       []string{"env"},
			unsuffixed: Override,
			want:       []string{"APP=aX", "PRE=Yp", "DEF=set", "OVR=new", "NEWDEF=yes"},
		},
		{
			name:       "delim applies to append and prepend",
			start:      []string{"A=1", "P=1"},
			files:      map[string]string{"env/A.append": "2", "env/A.delim": ":", "env/P.prepend": "0", "env/P.delim": ","},
			dirs:       []string{"env"},
			unsuffixed: Override,
			want:       []string{"A=1:2", "P=0,1"},
		},
		{
			name:       "unsuffixed overrides for buildpacks",
			start:      []string{"V=old"},
			files:      map[string]string{"env/V": "new"},
			dirs:       []string{"env"},
			unsuffixed: Override,
			want:       []string{"V=new"},
		},
		{
			name:       "unsuffixed defaults for build-config",
			start:      []string{"V=old"},
			files:      map[string]string{"env/V": "new", "env/W": "w"},
			dirs:       []string{"env"},
			unsuffixed: Default,
			want:       []string{"V=old", "W=w"},
		},
		{
			name:       "unknown suffixes and hidden files ignored",
			start:      []string{"V=old"},
			files:      map[string]string{"env/V.bogus": "x", "env/V.append.txt": "x", "env/.gitkeep": "", "env/sub/V": "x"},
			dirs:       []string{"env"},
			unsuffixed: Override,
			want:       []string{"V=old"},
		},
		{
			name:       "contents kept verbatim",
			files:      map[string]string{"env/V": " spaced $HOME\n"},
			dirs:       []string{"env"},
			unsuffixed: Override,
			want:       []string{"V= spaced $HOME\n"},
		},
		{
			name:       "env before env.build, delim carries within the layer",
			start:      []string{"A=0"},
			files:      map[string]string{"env/A.append": "1", "env/A.delim": ":", "env.build/A.append": "2", "env/O": "env", "env.build/O": "build"},
			dirs:       []string{"env", "env.build"},
			unsuffixed: Override,
			want:       []string{"A=0:1:2", "O=build"},
		},
		{
			name:       "later dir's delim replaces",
			start:      []string{"A=0"},
			files:      map[string]string{"env/A.append": "1", "env/A.delim": ":", "env.build/A.append": "2", "env.build/A.delim": ";"},
			dirs:       []string{"env", "env.build"},
			unsuffixed: Override,
			want:       []string{"A=0:1;2"},
		},
		{
			name:       "missing dirs skipped",
			start:      []string{"A=0"},
			dirs:       []string{"nope", "env.build"},
			unsuffixed: Override,
			want:       []string{"A=0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteFiles(t, root, tt.files)
			var dirs []string
			for _, d := range tt.dirs {
				dirs = append(dirs, filepath.Join(root, d))
			}
			e := New(tt.start)
			if err := e.ApplyEnvDirs(tt.unsuffixed, dirs...); err != nil {
				t.Fatalf("ApplyEnvDirs: %v", err)
			}
			if diff := cmp.Diff(tt.want, e.Environ()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyEnvDirsBadName(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFiles(t, root, map[string]string{"env/A=B.append": "x"})
	err := New(nil).ApplyEnvDirs(Override, filepath.Join(root, "env"))
	if err == nil {
		t.Fatal("ApplyEnvDirs accepted a file named A=B.append")
	}
	if want := filepath.Join(root, "env", "A=B.append"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}

func TestApplyPlatformDir(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFiles(t, root, map[string]string{
		"env/PATH":        "/user/bin",
		"env/CPATH":       "/user/include",
		"env/BP_GO_VER":   "1.22",
		"env/HOME":        "/override",
		"env/FOO.append":  "whole-name",
		"env/.hidden":     "x",
		"env/dir/IGNORED": "x",
	})
	e := New([]string{"PATH=/usr/bin", "HOME=/home/cnb"})
	if err := e.ApplyPlatformDir(filepath.Join(root, "env")); err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/user/bin:/usr/bin", "HOME=/override", "BP_GO_VER=1.22", "CPATH=/user/include", "FOO.append=whole-name"}
	if diff := cmp.Diff(want, e.Environ()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := New(nil).ApplyPlatformDir(filepath.Join(root, "missing")); err != nil {
		t.Errorf("missing platform dir: %v", err)
	}
}

func TestAddBuildpackLayers(t *testing.T) {
	root := t.TempDir()
	testutil.WriteFiles(t, root, map[string]string{
		"bp1/a/bin/x":                 "",
		"bp1/a/lib/x":                 "",
		"bp1/a/include/x":             "",
		"bp1/a/pkgconfig/x":           "",
		"bp1/a/env/GREETING.default":  "hello",
		"bp1/a/env/LIST.append":       "a",
		"bp1/a/env/LIST.delim":        ",",
		"bp1/b/bin/x":                 "",
		"bp1/b/env/LIST.append":       "b",
		"bp1/b/env/LIST.delim":        ",",
		"bp1/b/env.build/ONLY_BUILD":  "yes",
		"bp1/b/env.launch/ONLY_LAUNC": "yes",
		"bp1/b/env.launch/web/PROC":   "web",
		"bp1/b/env.launch/PROC":       "all",
		"bp2/c/bin/x":                 "",
		"bp2/c/env/GREETING.default":  "ignored",
		"bp2/c/env/LIST.prepend":      "c",
		"bp2/c/env/LIST.delim":        ",",
	})
	p := func(s string) string { return filepath.Join(root, s) }
	t.Run("build", func(t *testing.T) {
		e := New([]string{"PATH=/usr/bin"})
		// deliberately out of order: layers are sorted by name
		if err := e.AddBuildpackLayers(Build, "", []string{p("bp1/b"), p("bp1/a")}); err != nil {
			t.Fatal(err)
		}
		if err := e.AddBuildpackLayers(Build, "", []string{p("bp2/c")}); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"PATH":            p("bp2/c/bin") + ":" + p("bp1/a/bin") + ":" + p("bp1/b/bin") + ":/usr/bin",
			"LD_LIBRARY_PATH": p("bp1/a/lib"),
			"LIBRARY_PATH":    p("bp1/a/lib"),
			"CPATH":           p("bp1/a/include"),
			"PKG_CONFIG_PATH": p("bp1/a/pkgconfig"),
			"GREETING":        "hello",
			"LIST":            "c,a,b",
			"ONLY_BUILD":      "yes",
		}
		if diff := cmp.Diff(want, asMap(e)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("launch web", func(t *testing.T) {
		e := New(nil)
		if err := e.AddBuildpackLayers(Launch, "web", []string{p("bp1/a"), p("bp1/b")}); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"PATH":            p("bp1/a/bin") + ":" + p("bp1/b/bin"),
			"LD_LIBRARY_PATH": p("bp1/a/lib"),
			"GREETING":        "hello",
			"LIST":            "a,b",
			"ONLY_LAUNC":      "yes",
			"PROC":            "web",
		}
		if diff := cmp.Diff(want, asMap(e)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("launch without process", func(t *testing.T) {
		e := New(nil)
		if err := e.AddBuildpackLayers(Launch, "", []string{p("bp1/b")}); err != nil {
			t.Fatal(err)
		}
		if got := e.Get("PROC"); got != "all" {
			t.Errorf("PROC = %q, want all", got)
		}
	})
}

func asMap(e *Env) map[string]string {
	m := map[string]string{}
	for _, n := range e.Names() {
		m[n] = e.Get(n)
	}
	return m
}
