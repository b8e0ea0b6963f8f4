package env

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseExecD(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{"empty", "", map[string]string{}, ""},
		{"strings", "A = \"1\"\nB = 'two'\n", map[string]string{"A": "1", "B": "two"}, ""},
		{"multiline", "A = \"\"\"x\ny\"\"\"", map[string]string{"A": "x\ny"}, ""},
		{"int rejected", "A = 1", nil, `value of "A" is a int64`},
		{"table rejected", "[t]\nA = \"1\"", nil, `value of "t"`},
		{"array rejected", "A = [\"1\"]", nil, `value of "A"`},
		{"bad toml", "A = ", nil, "parsing exec.d output"},
		{"bad name", "\"A=B\" = \"1\"", nil, "not a valid variable name"},
		{"nul value", "A = \"x\\u0000y\"", nil, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExecD([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplyExecD(t *testing.T) {
	e := New([]string{"A=old", "KEEP=k"})
	e.ApplyExecD(map[string]string{"C": "3", "A": "new", "B": "2"})
	want := []string{"A=new", "KEEP=k", "B=2", "C=3"}
	if diff := cmp.Diff(want, e.Environ()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunExecD(t *testing.T) {
	dir := t.TempDir()
	ok := writeScript(t, dir, "ok", `echo "log line"
printf 'FROM_ENV = "%s"\nCWD = "%s"\n' "$IN" "$(pwd)" >&3
`)
	var stdout bytes.Buffer
	got, err := RunExecD(context.Background(), ok, []string{"IN=hello"}, dir, &stdout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"FROM_ENV": "hello", "CWD": dir}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if stdout.String() != "log line\n" {
		t.Errorf("stdout = %q", stdout.String())
	}

	fail := writeScript(t, dir, "fail", "exit 3\n")
	if _, err := RunExecD(context.Background(), fail, nil, dir, nil, nil); err == nil || !strings.Contains(err.Error(), fail) {
		t.Errorf("failing exec.d: err = %v, want one naming %s", err, fail)
	}
	bad := writeScript(t, dir, "bad", "echo 'X = 1' >&3\n")
	if _, err := RunExecD(context.Background(), bad, nil, dir, nil, nil); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad output: err = %v, want one naming %s", err, bad)
	}
}

func FuzzParseExecD(f *testing.F) {
	f.Add([]byte("A = \"1\"\n"))
	f.Add([]byte("[x]\ny = 1"))
	f.Add([]byte("'quoted key' = '''lit'''"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := ParseExecD(data)
		if err != nil {
			return
		}
		e := New(nil)
		e.ApplyExecD(vars)
		for k, v := range vars {
			if !ValidName(k) {
				t.Fatalf("accepted invalid name %q", k)
			}
			if strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("accepted NUL in %q", k)
			}
			if got := e.Get(k); got != v {
				t.Fatalf("Get(%q) = %q, want %q", k, got, v)
			}
		}
	})
}

// FuzzApplyEnvDirs writes one env file with a fuzzed name and contents and
// checks that applying it never panics, never yields an invalid variable,
// and obeys the suffix's rule.
func FuzzApplyEnvDirs(f *testing.F) {
	f.Add("PATH.append", "/x", "PATH=/usr/bin")
	f.Add("V.delim", ":", "V=1")
	f.Add("V", "x", "")
	f.Add(".hidden", "x", "A=b")
	f.Add("A.b.c", "x", "A=1")
	f.Fuzz(func(t *testing.T, name, value, start string) {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return // not a file name
		}
		dir := filepath.Join(t.TempDir(), "env")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644); err != nil {
			return // the file system refused the name: not a parser input
		}
		e := New([]string{start})
		before := e.Clone()
		if err := e.ApplyEnvDirs(Override, dir); err != nil {
			return
		}
		for _, n := range e.Names() {
			if !ValidName(n) {
				t.Fatalf("produced invalid name %q", n)
			}
		}
		v, suffix, _ := strings.Cut(name, ".")
		old := before.Get(v)
		got := e.Get(v)
		var want string
		switch suffix {
		case "", "override":
			want = value
		case "append":
			want = old + value
		case "prepend":
			want = value + old
		case "default":
			want = old
			if old == "" {
				want = value
			}
		default:
			want = old
		}
		if v != "" && got != want {
			t.Fatalf("file %q=%q on %q: got %q, want %q", name, value, old, got, want)
		}
	})
}
