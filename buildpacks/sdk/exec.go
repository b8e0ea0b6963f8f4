package sdk

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// RunCommand runs cmd with its output indented into the log, after
// logging the command line. A failure names the command and its working
// directory.
func (l *Logger) RunCommand(cmd *exec.Cmd) error {
	line := strings.Join(cmd.Args, " ")
	l.Step("Running %s", line)
	w := l.Writer()
	defer w.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = w
	}
	if cmd.Stderr == nil {
		cmd.Stderr = w
	}
	if err := cmd.Run(); err != nil {
		where := cmd.Dir
		if where == "" {
			where = "."
		}
		return fmt.Errorf("running %q in %s: %w", line, where, err)
	}
	return nil
}

// MergeEnv returns the environment of a command a buildpack runs: base
// (such as os.Environ()) without the variables in vars, then vars, sorted
// by name.
func MergeEnv(base []string, vars map[string]string) []string {
	out := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; !ok {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+vars[k])
	}
	return out
}
