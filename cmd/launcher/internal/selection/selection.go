package selection

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// LauncherName is the launcher's own file name: invoked under any other
// name, the name is a process type.
const LauncherName = "launcher"

// Candidate is a buildpack-provided process from metadata.toml.
type Candidate struct {
	Type       string
	Command    []string
	Args       []string
	Direct     bool
	WorkingDir string
	ExecEnv    []string
	// OverridableArgs is true when the providing buildpack's API (0.9 and
	// later) lets user arguments replace Args; such processes are always
	// direct. Otherwise user arguments are appended and Direct is honoured.
	OverridableArgs bool
}

// Request is everything the launcher knows when it selects.
type Request struct {
	// Argv is the launcher's full argument vector, argv[0] included and
	// NOT resolved through symbolic links.
	Argv []string
	// ProcessType is CNB_PROCESS_TYPE (legacy); empty when unset.
	ProcessType string
	// ExecEnv is CNB_EXEC_ENV, "production" when unset.
	ExecEnv string
	// AppDir is <app>, the default working directory.
	AppDir string
	// Processes and DefaultType come from metadata.toml.
	Processes   []Candidate
	DefaultType string
}

// Process is what the launcher runs.
type Process struct {
	// Type is the process type; empty for a user-provided command.
	Type string
	// Direct processes are executed as Command followed by Args. Others
	// run through bash: Command is shell source, Args are literal words
	// appended to it.
	Direct     bool
	Command    string
	Args       []string
	WorkingDir string
}

// Error kinds; Select's errors wrap one of them.
var (
	// ErrUnknownType: no process of the requested type exists.
	ErrUnknownType = errors.New("unknown process type")
	// ErrIneligible: the process exists but not for this execution environment.
	ErrIneligible = errors.New("process not eligible for execution environment")
	// ErrNoProcess: nothing to run (no arguments and no default process).
	ErrNoProcess = errors.New("no process to run")
	// ErrEmptyCommand: a process or user command with no command.
	ErrEmptyCommand = errors.New("empty command")
)

// Select decides what to run.
//
//   - Invoked under a name other than "launcher" (such as the symlink
//     /cnb/process/web), that name is the process type and the arguments
//     are user arguments for it.
//   - As "launcher -- cmd args...", cmd runs directly in <app>.
//   - As "launcher cmd args...", cmd runs through bash in <app>.
//   - As "launcher" alone, CNB_PROCESS_TYPE, else the default process runs.
func Select(req Request) (Process, error) {
	if len(req.Argv) == 0 {
		return Process{}, fmt.Errorf("%w: empty argument vector", ErrNoProcess)
	}
	name := filepath.Base(req.Argv[0])
	args := req.Argv[1:]
	if name != LauncherName {
		return buildpackProcess(req, name, args, "invoked as "+req.Argv[0])
	}
	if len(args) > 0 && args[0] == "--" {
		if len(args) < 2 || args[1] == "" {
			return Process{}, fmt.Errorf("%w: nothing after \"--\"", ErrEmptyCommand)
		}
		return Process{Direct: true, Command: args[1], Args: args[2:], WorkingDir: req.AppDir}, nil
	}
	if len(args) > 0 {
		if strings.TrimSpace(args[0]) == "" {
			return Process{}, fmt.Errorf("%w: the command argument is blank", ErrEmptyCommand)
		}
		return Process{Command: args[0], Args: args[1:], WorkingDir: req.AppDir}, nil
	}
	if req.ProcessType != "" {
		return buildpackProcess(req, req.ProcessType, nil, "from CNB_PROCESS_TYPE")
	}
	if req.DefaultType != "" {
		return buildpackProcess(req, req.DefaultType, nil, "the default process")
	}
	return Process{}, fmt.Errorf("%w: the image has no default process; give a command (launcher [--] <cmd> [<args>...]) or invoke /cnb/process/<type>", ErrNoProcess)
}

func buildpackProcess(req Request, typ string, userArgs []string, how string) (Process, error) {
	i := slices.IndexFunc(req.Processes, func(c Candidate) bool { return c.Type == typ })
	if i < 0 {
		return Process{}, fmt.Errorf("%w %q (%s); known types: %s", ErrUnknownType, typ, how, typeList(req.Processes))
	}
	c := req.Processes[i]
	execEnv := req.ExecEnv
	if execEnv == "" {
		execEnv = "production"
	}
	if !descriptor.ExecEnvs(c.ExecEnv).Supports(execEnv) {
		return Process{}, fmt.Errorf("%w: process %q runs only in %s, CNB_EXEC_ENV is %q", ErrIneligible, typ, strings.Join(c.ExecEnv, ", "), execEnv)
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		return Process{}, fmt.Errorf("%w: process %q has no command", ErrEmptyCommand, typ)
	}
	p := Process{
		Type:       typ,
		Direct:     c.Direct || c.OverridableArgs,
		Command:    c.Command[0],
		WorkingDir: c.WorkingDir,
	}
	if p.WorkingDir == "" {
		p.WorkingDir = req.AppDir
	} else if !filepath.IsAbs(p.WorkingDir) {
		p.WorkingDir = filepath.Join(req.AppDir, p.WorkingDir)
	}
	p.Args = append(p.Args, c.Command[1:]...)
	switch {
	case c.OverridableArgs && len(userArgs) > 0:
		p.Args = append(p.Args, userArgs...)
	case c.OverridableArgs:
		p.Args = append(p.Args, c.Args...)
	default:
		p.Args = append(append(p.Args, c.Args...), userArgs...)
	}
	return p, nil
}

func typeList(cs []Candidate) string {
	if len(cs) == 0 {
		return "none"
	}
	types := make([]string, len(cs))
	for i, c := range cs {
		types[i] = c.Type
	}
	slices.Sort(types)
	return strings.Join(types, ", ")
}
