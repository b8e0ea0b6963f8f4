package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	bin := t.TempDir()
	tool := filepath.Join(bin, "tool")
	if err := os.WriteFile(tool, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fakeShell := filepath.Join(t.TempDir(), "sh")
	os.WriteFile(fakeShell, nil, 0o755)
	environ := []string{"PATH=/nonexistent:" + bin, "PORT=5000"}
	tests := []struct {
		name     string
		line     string
		extra    []string
		shells   []string
		wantPath string
		wantArgv []string
		wantEnv  []string
		wantErr  string
	}{
		{name: "plain", line: "tool --port ${PORT:-8080}", extra: []string{"more"}, wantPath: tool,
			wantArgv: []string{"tool", "--port", "5000", "more"}, wantEnv: environ},
		{name: "assignment", line: "MODE=fast tool", wantPath: tool, wantArgv: []string{"tool"},
			wantEnv: append(append([]string{}, environ...), "MODE=fast")},
		{name: "assigned PATH is used for the lookup", line: "PATH=" + bin + " tool", wantPath: tool, wantArgv: []string{"tool"},
			wantEnv: []string{"PORT=5000", "PATH=" + bin}},
		{name: "absolute", line: tool + " x", wantPath: tool, wantArgv: []string{tool, "x"}, wantEnv: environ},
		{name: "shell fallback", line: "tool && tool", shells: []string{"/nonexistent/sh", fakeShell}, extra: []string{"a"}, wantPath: fakeShell,
			wantArgv: []string{"sh", "-c", "tool && tool", "kiln-exec", "a"}, wantEnv: environ},
		{name: "no shell", line: "tool | tool", shells: []string{"/nonexistent/sh"}, wantErr: "this image has no shell"},
		{name: "not found", line: "nothere", wantErr: "nothere: command not found"},
		{name: "bad quote", line: "tool 'x", wantErr: "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, argv, env, err := plan(tt.line, tt.extra, environ, tt.shells)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if path != tt.wantPath {
				t.Errorf("path %s, want %s", path, tt.wantPath)
			}
			if diff := cmp.Diff(tt.wantArgv, argv); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEnv, env); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExec builds kiln-exec and runs a command line through it.
func TestExec(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kiln-exec")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, `GREETING="hi there" printenv GREETING`)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "hi there\n" {
		t.Errorf("kiln-exec printenv = %q, %v", out, err)
	}
	cmd = exec.Command(bin, "no-such-command-here")
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 127 || !strings.Contains(string(out), "command not found") {
		t.Errorf("missing command: %v %q", err, out)
	}
}

func TestViaEnv(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "next")
	if err := os.WriteFile(script, []byte("#!/nonexistent/env node\nconsole.log(1)\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(dir, "node")
	if err := os.WriteFile(node, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	path, argv := viaEnv(script, []string{"next", "start"}, dir)
	if diff := cmp.Diff([]string{"node", script, "start"}, argv); diff != "" || path != node {
		t.Errorf("viaEnv = %s %v (-want +got):\n%s", path, argv, diff)
	}
	// a script whose env exists runs as it is
	if err := os.WriteFile(script, []byte("#!/usr/bin/env node\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/usr/bin/env"); err == nil {
		if path, _ := viaEnv(script, []string{"next"}, dir); path != script {
			t.Errorf("with /usr/bin/env: path %s", path)
		}
	}
}
