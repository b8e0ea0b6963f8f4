package buildphase

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

func TestProcessMerge(t *testing.T) {
	api := descriptor.API{Major: 0, Minor: 12}
	proc := func(typ string, def bool, cmd ...string) launch.Process {
		return launch.Process{Type: typ, Default: def, Command: cmd}
	}
	c := func(id string, ps ...launch.Process) contribution {
		return contribution{buildpackID: id, api: api, launch: launch.Launch{Processes: ps}}
	}
	type got struct {
		Default string
		Types   []string // type=buildpack:command
	}
	tests := []struct {
		name string
		in   []contribution
		want got
	}{
		{
			name: "later same type replaces in place",
			in:   []contribution{c("a", proc("web", false, "a-web"), proc("worker", false, "a-worker")), c("b", proc("web", false, "b-web"))},
			want: got{Types: []string{"web=b:b-web", "worker=a:a-worker"}},
		},
		{
			name: "one default",
			in:   []contribution{c("a", proc("web", true, "a-web")), c("b", proc("worker", false, "b-worker"))},
			want: got{Default: "web", Types: []string{"web=a:a-web", "worker=b:b-worker"}},
		},
		{
			name: "last default wins",
			in:   []contribution{c("a", proc("web", true, "a-web")), c("b", proc("worker", true, "b-worker"))},
			want: got{Default: "worker", Types: []string{"web=a:a-web", "worker=b:b-worker"}},
		},
		{
			name: "later non-default of the default type erases the default",
			in:   []contribution{c("a", proc("web", true, "a-web")), c("b", proc("web", false, "b-web"))},
			want: got{Types: []string{"web=b:b-web"}},
		},
		{
			name: "later default of the same type keeps it default",
			in:   []contribution{c("a", proc("web", true, "a-web")), c("b", proc("web", true, "b-web"))},
			want: got{Default: "web", Types: []string{"web=b:b-web"}},
		},
		{
			name: "non-default of another type leaves the default",
			in:   []contribution{c("a", proc("web", true, "a-web")), c("b", proc("worker", false, "b-worker")), c("c", proc("worker", false, "c-worker"))},
			want: got{Default: "web", Types: []string{"web=a:a-web", "worker=c:c-worker"}},
		},
		{
			name: "erased default is not restored by an unrelated default-less buildpack",
			in:   []contribution{c("a", proc("web", true, "a-web")), c("b", proc("web", false, "b-web")), c("c", proc("cli", false, "c-cli"))},
			want: got{Types: []string{"web=b:b-web", "cli=c:c-cli"}},
		},
		{
			name: "default then erased then a new default",
			in:   []contribution{c("a", proc("web", true, "a-web")), c("b", proc("web", false, "b-web"), proc("job", true, "b-job"))},
			want: got{Default: "job", Types: []string{"web=b:b-web", "job=b:b-job"}},
		},
		{
			name: "no processes",
			in:   []contribution{c("a"), c("b")},
			want: got{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &merger{appDir: "/workspace"}
			for _, c := range tt.in {
				m.add(c)
			}
			g := got{Default: m.defaultType}
			for _, p := range m.processes {
				g.Types = append(g.Types, p.Type+"="+p.BuildpackID+":"+strings.Join(p.Command, " "))
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveProcess(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		api  descriptor.API
		in   launch.Process
		want launch.MetadataProcess
	}{
		{
			name: "defaults",
			api:  descriptor.API{Minor: 12},
			in:   launch.Process{Type: "web", Command: launch.Argv{"x"}},
			want: launch.MetadataProcess{Type: "web", Command: []string{"x"}, Args: []string{}, Direct: true, WorkingDir: "/workspace", ExecEnv: []string{"*"}, BuildpackID: "bp"},
		},
		{
			name: "relative working dir and exec-env",
			api:  descriptor.API{Minor: 12},
			in:   launch.Process{Type: "web", Command: launch.Argv{"x"}, WorkingDir: "sub/dir", ExecEnv: []string{"test"}, Args: []string{"a"}},
			want: launch.MetadataProcess{Type: "web", Command: []string{"x"}, Args: []string{"a"}, Direct: true, WorkingDir: "/workspace/sub/dir", ExecEnv: []string{"test"}, BuildpackID: "bp"},
		},
		{
			name: "0.9+ ignores direct = false",
			api:  descriptor.API{Minor: 9},
			in:   launch.Process{Type: "web", Command: launch.Argv{"x"}, Direct: &no},
			want: launch.MetadataProcess{Type: "web", Command: []string{"x"}, Args: []string{}, Direct: true, WorkingDir: "/workspace", ExecEnv: []string{"*"}, BuildpackID: "bp"},
		},
		{
			name: "0.8 defaults to a shell",
			api:  descriptor.API{Minor: 8},
			in:   launch.Process{Type: "web", Command: launch.Argv{"echo hi"}},
			want: launch.MetadataProcess{Type: "web", Command: []string{"echo hi"}, Args: []string{}, Direct: false, WorkingDir: "/workspace", ExecEnv: []string{"*"}, BuildpackID: "bp"},
		},
		{
			name: "0.8 direct = true",
			api:  descriptor.API{Minor: 8},
			in:   launch.Process{Type: "web", Command: launch.Argv{"ls"}, Direct: &yes},
			want: launch.MetadataProcess{Type: "web", Command: []string{"ls"}, Args: []string{}, Direct: true, WorkingDir: "/workspace", ExecEnv: []string{"*"}, BuildpackID: "bp"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &merger{appDir: "/workspace"}
			got := m.resolve(contribution{buildpackID: "bp", api: tt.api}, tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLabelAndSliceMerge(t *testing.T) {
	m := &merger{appDir: "/workspace"}
	m.add(contribution{launch: launch.Launch{
		Labels: []launch.Label{{Key: "a", Value: "1"}, {Key: "b", Value: "1"}},
		Slices: []launch.Slice{{Paths: []string{"x/*"}}},
	}})
	m.add(contribution{launch: launch.Launch{
		Labels: []launch.Label{{Key: "b", Value: "2"}, {Key: "c", Value: "2"}},
		Slices: []launch.Slice{{Paths: []string{"y/*"}}, {Paths: []string{"z"}}},
	}})
	if diff := cmp.Diff([]launch.Label{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "2"}}, m.labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]launch.Slice{{Paths: []string{"x/*"}}, {Paths: []string{"y/*"}}, {Paths: []string{"z"}}}, m.slices); diff != "" {
		t.Errorf("slices (-want +got):\n%s", diff)
	}
}

func TestCheckSlices(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"static/*", true},
		{"*.html", true},
		{"/workspace/assets/*", true},
		{"a/../b", true},
		{"../x", false},
		{"..", false},
		{"a/../../x", false},
		{"/etc/*", false},
		{"/workspacex/y", false},
		{"[", false},
	}
	for _, tt := range tests {
		err := checkSlices("/layers/bp/launch.toml", "/workspace", []launch.Slice{{Paths: []string{tt.path}}})
		if (err == nil) != tt.ok {
			t.Errorf("checkSlices(%q) = %v, want ok=%v", tt.path, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "/layers/bp/launch.toml") {
			t.Errorf("error %q does not name launch.toml", err)
		}
	}
}
