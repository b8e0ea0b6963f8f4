package procfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// Process is one Procfile entry.
type Process struct {
	Type    string
	Command string
	Line    int
}

// ErrNoProcesses is returned for a Procfile without any process.
var ErrNoProcesses = errors.New("the Procfile defines no processes")

// Parse parses the content of a Procfile; name identifies it in errors.
// Processes come back in file order. A type given twice, a line without
// "type:", an invalid type, an empty command, and a file without any
// process are errors naming the line.
func Parse(name string, data []byte) ([]Process, error) {
	var out []Process
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, cmd, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not \"<type>: <command>\"", name, n, line)
		}
		typ, cmd = strings.TrimSpace(typ), strings.TrimSpace(cmd)
		if !sdk.ValidProcessType(typ) {
			return nil, fmt.Errorf("%s:%d: process type %q may only hold letters, digits, '.', '_' and '-'", name, n, typ)
		}
		if cmd == "" {
			return nil, fmt.Errorf("%s:%d: process %q has no command", name, n, typ)
		}
		if prev, dup := seen[typ]; dup {
			return nil, fmt.Errorf("%s:%d: process %q is already defined on line %d", name, n, typ, prev)
		}
		seen[typ] = n
		out = append(out, Process{Type: typ, Command: cmd, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", name, ErrNoProcesses)
	}
	return out, nil
}

// Read parses the Procfile at path.
func Read(path string) ([]Process, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return Parse(path, data)
}
