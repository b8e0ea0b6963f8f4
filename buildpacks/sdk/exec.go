package sdk

import (
	"fmt"
	"os/exec"
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
