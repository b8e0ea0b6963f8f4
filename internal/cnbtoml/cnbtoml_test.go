package cnbtoml

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAddProcess(t *testing.T) {
	var l Launch
	l.AddProcess(Process{Type: "web", Command: []string{"a"}, Default: true})
	l.AddProcess(Process{Type: "worker", Command: []string{"w"}})
	l.AddProcess(Process{Type: "web", Command: []string{"b"}})
	l.AddProcess(Process{Type: "cli", Command: []string{"c"}, Default: true})
	want := []Process{
		{Type: "worker", Command: []string{"w"}},
		{Type: "web", Command: []string{"b"}},
		{Type: "cli", Command: []string{"c"}, Default: true},
	}
	if diff := cmp.Diff(want, l.Processes); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
}

func TestLaunchValidate(t *testing.T) {
	tests := []struct {
		name    string
		launch  Launch
		wantErr string
	}{
		{"ok", Launch{Processes: []Process{{Type: "web", Command: []string{"x"}, Default: true}}}, ""},
		{"bad type", Launch{Processes: []Process{{Type: "we b", Command: []string{"x"}}}}, "must match"},
		{"dotdot type", Launch{Processes: []Process{{Type: "..", Command: []string{"x"}}}}, "must match"},
		{"no command", Launch{Processes: []Process{{Type: "web"}}}, "command is empty"},
		{"twice", Launch{Processes: []Process{{Type: "web", Command: []string{"x"}}, {Type: "web", Command: []string{"y"}}}}, "declared twice"},
		{"two defaults", Launch{Processes: []Process{{Type: "a", Command: []string{"x"}, Default: true}, {Type: "b", Command: []string{"y"}, Default: true}}}, "only one"},
		{"empty label", Launch{Labels: []Label{{Value: "v"}}}, "key is empty"},
		{"label twice", Launch{Labels: []Label{{Key: "k"}, {Key: "k"}}}, `label "k" is declared twice`},
	}
	for _, tt := range tests {
		err := tt.launch.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
