package selection

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var procs = []Candidate{
	{Type: "web", Command: []string{"node", "--enable-x"}, Args: []string{"server.js"}, OverridableArgs: true},
	{Type: "worker", Command: []string{"/bin/worker"}, WorkingDir: "jobs", OverridableArgs: true},
	{Type: "abs", Command: []string{"run"}, WorkingDir: "/srv", OverridableArgs: true},
	{Type: "test", Command: []string{"npm", "test"}, ExecEnv: []string{"test", "development"}, OverridableArgs: true},
	{Type: "any", Command: []string{"x"}, ExecEnv: []string{"*"}, OverridableArgs: true},
	{Type: "old-shell", Command: []string{"echo $HOME"}, Args: []string{"a"}},
	{Type: "old-direct", Command: []string{"echo"}, Args: []string{"a"}, Direct: true},
	{Type: "empty"},
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		want    Process
		wantErr error
	}{
		{
			name: "symlink name is the type, default args",
			req:  Request{Argv: []string{"/cnb/process/web"}},
			want: Process{Type: "web", Direct: true, Command: "node", Args: []string{"--enable-x", "server.js"}, WorkingDir: "/workspace"},
		},
		{
			name: "user args replace args, never command[1:]",
			req:  Request{Argv: []string{"/cnb/process/web", "other.js", "--port=1"}},
			want: Process{Type: "web", Direct: true, Command: "node", Args: []string{"--enable-x", "other.js", "--port=1"}, WorkingDir: "/workspace"},
		},
		{
			name: "symlink wins over CNB_PROCESS_TYPE and default",
			req:  Request{Argv: []string{"web"}, ProcessType: "worker", DefaultType: "worker"},
			want: Process{Type: "web", Direct: true, Command: "node", Args: []string{"--enable-x", "server.js"}, WorkingDir: "/workspace"},
		},
		{
			name: "relative working-dir is inside the app dir",
			req:  Request{Argv: []string{"/cnb/process/worker"}},
			want: Process{Type: "worker", Direct: true, Command: "/bin/worker", WorkingDir: "/workspace/jobs"},
		},
		{
			name: "absolute working-dir",
			req:  Request{Argv: []string{"/cnb/process/abs"}},
			want: Process{Type: "abs", Direct: true, Command: "run", WorkingDir: "/srv"},
		},
		{
			name:    "unknown type via symlink",
			req:     Request{Argv: []string{"/cnb/process/nope"}},
			wantErr: ErrUnknownType,
		},
		{
			name:    "exec-env excludes production by default",
			req:     Request{Argv: []string{"/cnb/process/test"}},
			wantErr: ErrIneligible,
		},
		{
			name: "exec-env matches",
			req:  Request{Argv: []string{"/cnb/process/test"}, ExecEnv: "development"},
			want: Process{Type: "test", Direct: true, Command: "npm", Args: []string{"test"}, WorkingDir: "/workspace"},
		},
		{
			name: "exec-env star",
			req:  Request{Argv: []string{"/cnb/process/any"}, ExecEnv: "weird"},
			want: Process{Type: "any", Direct: true, Command: "x", WorkingDir: "/workspace"},
		},
		{
			name: "old buildpack shell process appends user args",
			req:  Request{Argv: []string{"/cnb/process/old-shell", "b"}},
			want: Process{Type: "old-shell", Command: "echo $HOME", Args: []string{"a", "b"}, WorkingDir: "/workspace"},
		},
		{
			name: "old buildpack direct process appends user args",
			req:  Request{Argv: []string{"/cnb/process/old-direct", "b"}},
			want: Process{Type: "old-direct", Direct: true, Command: "echo", Args: []string{"a", "b"}, WorkingDir: "/workspace"},
		},
		{
			name:    "process without command",
			req:     Request{Argv: []string{"/cnb/process/empty"}},
			wantErr: ErrEmptyCommand,
		},
		{
			name: "launcher -- runs directly",
			req:  Request{Argv: []string{"/cnb/lifecycle/launcher", "--", "ls", "-l", "--"}, DefaultType: "web"},
			want: Process{Direct: true, Command: "ls", Args: []string{"-l", "--"}, WorkingDir: "/workspace"},
		},
		{
			name: "launcher cmd runs through bash",
			req:  Request{Argv: []string{"launcher", "echo $HOME", "x y"}, ProcessType: "web"},
			want: Process{Command: "echo $HOME", Args: []string{"x y"}, WorkingDir: "/workspace"},
		},
		{
			name: "a process type as argument is still a shell command",
			req:  Request{Argv: []string{"launcher", "web"}},
			want: Process{Command: "web", Args: []string{}, WorkingDir: "/workspace"},
		},
		{
			name:    "launcher -- alone",
			req:     Request{Argv: []string{"launcher", "--"}},
			wantErr: ErrEmptyCommand,
		},
		{
			name:    "launcher with a blank command",
			req:     Request{Argv: []string{"launcher", " "}},
			wantErr: ErrEmptyCommand,
		},
		{
			name: "launcher alone uses CNB_PROCESS_TYPE",
			req:  Request{Argv: []string{"/cnb/lifecycle/launcher"}, ProcessType: "worker", DefaultType: "web"},
			want: Process{Type: "worker", Direct: true, Command: "/bin/worker", WorkingDir: "/workspace/jobs"},
		},
		{
			name:    "unknown CNB_PROCESS_TYPE",
			req:     Request{Argv: []string{"/cnb/lifecycle/launcher"}, ProcessType: "nope", DefaultType: "web"},
			wantErr: ErrUnknownType,
		},
		{
			name: "launcher alone uses the default process",
			req:  Request{Argv: []string{"/cnb/lifecycle/launcher"}, DefaultType: "web"},
			want: Process{Type: "web", Direct: true, Command: "node", Args: []string{"--enable-x", "server.js"}, WorkingDir: "/workspace"},
		},
		{
			name:    "launcher alone without default",
			req:     Request{Argv: []string{"/cnb/lifecycle/launcher"}},
			wantErr: ErrNoProcess,
		},
		{
			name:    "no argv",
			req:     Request{},
			wantErr: ErrNoProcess,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.AppDir = "/workspace"
			req.Processes = procs
			got, err := Select(req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got (%+v, %v), want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpEmptyArgs); diff != "" {
				t.Errorf("Select mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpEmptyArgs treats nil and empty argument lists alike.
var cmpEmptyArgs = cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

func TestUnknownTypeErrorListsTypes(t *testing.T) {
	_, err := Select(Request{Argv: []string{"/cnb/process/wbe"}, Processes: procs})
	if err == nil || !strings.Contains(err.Error(), `"wbe"`) || !strings.Contains(err.Error(), "web, worker") {
		t.Errorf("got %v, want an error naming \"wbe\" and listing the known types", err)
	}
}

// FuzzSelect checks that any argument vector either selects something
// consistent with it or fails with one of the documented errors.
func FuzzSelect(f *testing.F) {
	f.Add("/cnb/process/web", "a", "b")
	f.Add("launcher", "--", "ls")
	f.Add("launcher", "echo hi", "")
	f.Add("/x/launcher", "", "")
	f.Fuzz(func(t *testing.T, argv0, a1, a2 string) {
		argv := []string{argv0}
		for _, a := range []string{a1, a2} {
			if a != "" {
				argv = append(argv, a)
			}
		}
		got, err := Select(Request{Argv: argv, AppDir: "/workspace", Processes: procs, DefaultType: "web"})
		if err != nil {
			if !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrIneligible) &&
				!errors.Is(err, ErrNoProcess) && !errors.Is(err, ErrEmptyCommand) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if got.Command == "" || got.WorkingDir == "" {
			t.Fatalf("selected %+v: empty command or working dir", got)
		}
		if got.Type == "" && got.WorkingDir != "/workspace" {
			t.Fatalf("user command %+v must run in the app dir", got)
		}
	})
}
