package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/buildpacks/internal/shell"
)

// shells are tried, in order, for lines that need a shell.
var shells = []string{"/bin/sh", "/usr/bin/sh"}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kiln-exec '<command line>' [args...]")
		os.Exit(2)
	}
	path, argv, env, err := plan(os.Args[1], os.Args[2:], os.Environ(), shells)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kiln-exec:", err)
		os.Exit(127)
	}
	if err := syscall.Exec(path, argv, env); err != nil {
		fmt.Fprintf(os.Stderr, "kiln-exec: running %s: %v\n", path, err)
		os.Exit(126)
	}
}

// plan works out what to execute for line.
func plan(line string, extra, environ, shells []string) (path string, argv, env []string, err error) {
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cmd, err := shell.Parse(line, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	var ns *shell.NeedsShellError
	if errors.As(err, &ns) {
		for _, sh := range shells {
			if fi, serr := os.Stat(sh); serr == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return sh, append([]string{"sh", "-c", line, "kiln-exec"}, extra...), environ, nil
			}
		}
		return "", nil, nil, fmt.Errorf("%v, and this image has no shell; write the command without shell syntax, or move the steps into a script in the app's language", ns)
	}
	if err != nil {
		return "", nil, nil, err
	}
	env = environ
	for _, a := range cmd.Assign {
		k, v, _ := strings.Cut(a, "=")
		vars[k] = v
		env = setEnv(env, k, v)
	}
	argv = append(cmd.Argv, extra...)
	if path, err = lookPath(argv[0], vars["PATH"]); err != nil {
		return "", nil, nil, err
	}
	path, argv = viaEnv(path, argv, vars["PATH"])
	return path, argv, env, nil
}

// viaEnv runs a script whose first line is "#!/usr/bin/env prog" with
// prog from PATH when the image has no /usr/bin/env (a distroless run
// image), as env would: package bins (next, tsx) start that way.
func viaEnv(path string, argv []string, pathVar string) (string, []string) {
	f, err := os.Open(path)
	if err != nil {
		return path, argv
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := f.Read(head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	interp, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return path, argv
	}
	fields := strings.Fields(interp)
	if len(fields) < 2 || filepath.Base(fields[0]) != "env" || executable(fields[0]) == nil {
		return path, argv
	}
	prog := ""
	for _, w := range fields[1:] {
		if !strings.HasPrefix(w, "-") && !strings.Contains(w, "=") {
			prog = w
			break
		}
	}
	p, err := lookPath(prog, pathVar)
	if prog == "" || err != nil {
		return path, argv
	}
	return p, append([]string{prog, path}, argv[1:]...)
}

func setEnv(env []string, k, v string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name != k {
			out = append(out, kv)
		}
	}
	return append(out, k+"="+v)
}

// lookPath finds an executable file as a shell would: names with a slash
// as they are, others in the directories of pathVar.
func lookPath(name, pathVar string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found on PATH (%s)", name, pathVar)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}
