package shell

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScriptString(t *testing.T) {
	tests := []struct {
		name string
		s    Script
		want string
	}{
		{
			name: "command only",
			s:    Script{Command: "echo hi"},
			want: "echo hi\n",
		},
		{
			name: "profiles, dir and args",
			s: Script{
				Profiles:   []string{"/layers/bp/l/profile.d/a.sh", "/work space/.profile"},
				WorkingDir: "/srv/it's",
				Command:    "exec node",
				Args:       []string{"server.js", "$HOME", ""},
			},
			want: "source '/layers/bp/l/profile.d/a.sh'\n" +
				"source '/work space/.profile'\n" +
				"cd -- '/srv/it'\\''s' || exit 83\n" +
				"exec node 'server.js' '$HOME' ''\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.s.String()); diff != "" {
				t.Errorf("String() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScriptRunsInBash runs generated scripts in a real bash and checks that
// arguments arrive unchanged, profiles are sourced in order and the command
// runs in the working directory.
func TestScriptRunsInBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("these tests need bash on PATH: %v", err)
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "it's a dir")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	p1 := filepath.Join(dir, "1.sh")
	p2 := filepath.Join(dir, "2 two.sh")
	writeFile(t, p1, "export ORDER=one\nlocalvar=set-by-profile\n")
	writeFile(t, p2, "export ORDER=\"$ORDER,two\"\n")

	tests := []struct {
		name string
		s    Script
		want string
	}{
		{
			name: "tricky args stay literal",
			s: Script{
				Command: `printf '[%s]\n'`,
				Args:    []string{"a b", "$HOME", "it's", `"q"`, "", "*", "`id`", "x\ny"},
			},
			want: "[a b]\n[$HOME]\n[it's]\n[\"q\"]\n[]\n[*]\n[`id`]\n[x\ny]\n",
		},
		{
			name: "command is shell source",
			s:    Script{Command: `X=1; echo "x=$X" && echo second`},
			want: "x=1\nsecond\n",
		},
		{
			name: "profiles in order, unexported variables visible, working dir",
			s: Script{
				Profiles:   []string{p1, p2},
				WorkingDir: work,
				Command:    `echo "$ORDER $localvar $(basename "$PWD")"`,
			},
			want: "one,two set-by-profile it's a dir\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := tt.s.Argv(bash)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("bash failed: %v\n%s", err, out)
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestScriptMissingWorkingDir(t *testing.T) {
	s := Script{WorkingDir: filepath.Join(t.TempDir(), "missing"), Command: "echo should-not-run"}
	argv := s.Argv("bash")
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 83 {
		t.Fatalf("got err %v, want exit code 83; output:\n%s", err, out)
	}
	if strings.Contains(string(out), "should-not-run") {
		t.Errorf("command ran despite missing working dir:\n%s", out)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
