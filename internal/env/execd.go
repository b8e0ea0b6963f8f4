package env

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"

	"github.com/BurntSushi/toml"
)

// ParseExecD parses the output of an exec.d executable: a TOML document of
// top-level keys with string values. Any other value type, a nested table,
// an invalid variable name or a NUL byte in a value is an error.
func ParseExecD(data []byte) (map[string]string, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, fmt.Errorf("parsing exec.d output: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("parsing exec.d output: value of %q is a %T, not a string", k, v)
		}
		if !ValidName(k) {
			return nil, fmt.Errorf("parsing exec.d output: %q is not a valid variable name", k)
		}
		if bytes.IndexByte([]byte(s), 0) >= 0 {
			return nil, fmt.Errorf("parsing exec.d output: value of %q contains a NUL byte", k)
		}
		out[k] = s
	}
	return out, nil
}

// ApplyExecD sets every variable of vars, overriding existing values, in
// name order.
func (e *Env) ApplyExecD(vars map[string]string) {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		e.Set(k, vars[k])
	}
}

// RunExecD runs the exec.d executable at path with environment environ and
// working directory dir, hands it a pipe as file descriptor 3, and returns
// the variables it wrote there. Its standard output and error go to stdout
// and stderr (either may be nil). A non-zero exit or unparsable output is an
// error naming path.
func RunExecD(ctx context.Context, path string, environ []string, dir string, stdout, stderr io.Writer) (map[string]string, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("running exec.d %s: %w", path, err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = environ
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.ExtraFiles = []*os.File{w} // becomes fd 3
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("running exec.d %s: %w", path, err)
	}
	w.Close() // the child holds its own copy
	out, readErr := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("running exec.d %s: %w", path, err)
	}
	if readErr != nil {
		return nil, fmt.Errorf("reading output of exec.d %s: %w", path, readErr)
	}
	vars, err := ParseExecD(out)
	if err != nil {
		return nil, fmt.Errorf("exec.d %s: %w", path, err)
	}
	return vars, nil
}
