package launchcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/env"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// Options describe the app image about to be exported.
type Options struct {
	// RunImage is the image's base: its files and its config's Env.
	RunImage v1.Image
	// IndexDir keeps the run image's file index between builds; "" keeps
	// nothing.
	IndexDir string
	// LayersDir and AppDir are the host paths of the layers and app dirs;
	// LayersPath and AppPath where they are in the image.
	LayersDir, AppDir   string
	LayersPath, AppPath string
	// Metadata holds the buildpacks (in order) and the processes.
	Metadata launch.Metadata
}

// Problem is one reason a process would not start.
type Problem struct {
	Process string
	// Missing says what is missing, naming the file.
	Missing string
	// Fix says what to change.
	Fix string
}

// Error lists the processes that would not start.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("the image would not start:")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  process %s: %s\n    fix: %s", p.Process, p.Missing, p.Fix)
	}
	return b.String()
}

// Check returns an *Error when a process of the image would not start,
// another error when the check itself could not run, else nil.
func Check(ctx context.Context, o Options) error {
	if len(o.Metadata.Processes) == 0 {
		return nil
	}
	ix, err := LoadIndex(o.RunImage, o.IndexDir)
	if err != nil {
		return err
	}
	cfg, err := o.RunImage.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the run image config: %w", err)
	}
	v := &view{run: ix, layersPath: path.Clean(o.LayersPath), appPath: path.Clean(o.AppPath),
		layersDir: o.LayersDir, appDir: o.AppDir, launchLayers: map[string]bool{}, unseen: map[string]bool{}}
	layers, err := v.findLaunchLayers(o.Metadata.Buildpacks)
	if err != nil {
		return err
	}
	var problems []Problem
	for _, p := range o.Metadata.Processes {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := launchEnv(cfg.Config.Env, p.Type, layers, v)
		if err != nil {
			return err
		}
		c := &checker{v: v, seen: map[string]bool{}, proc: p.Type,
			path:   splitList(e.Get("PATH")),
			ldPath: splitList(e.Get("LD_LIBRARY_PATH")),
			wd:     cmpOr(p.WorkingDir, v.appPath)}
		c.process(p)
		problems = append(problems, c.problems...)
	}
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// bpLayers are one buildpack's launch layers: host dirs with contents,
// and image dirs of those shipped without.
type bpLayers struct{ host, unseen []string }

// findLaunchLayers reads each buildpack's <layer>.toml files and records
// the launch layers in the view.
func (v *view) findLaunchLayers(bps []launch.MetadataBuildpack) ([]bpLayers, error) {
	var out []bpLayers
	for _, bp := range bps {
		esc := descriptor.EscapeID(bp.ID)
		tomls, err := filepath.Glob(filepath.Join(v.layersDir, esc, "*.toml"))
		if err != nil {
			return nil, err
		}
		sort.Strings(tomls)
		var l bpLayers
		for _, t := range tomls {
			name := strings.TrimSuffix(filepath.Base(t), ".toml")
			if name == "launch" || name == "build" || name == "store" {
				continue
			}
			md, err := launch.ReadLayer(t)
			if err != nil || !md.Types.Launch {
				continue // the exporter reports a bad layer file
			}
			key := esc + "/" + name
			v.launchLayers[key] = true
			dir := filepath.Join(v.layersDir, esc, name)
			// Lstat: the build wrote the layers dir, and a layer that is a
			// link (to / on the host, say) must not be looked through
			if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
				l.host = append(l.host, dir)
				continue
			}
			v.unseen[key] = true
			l.unseen = append(l.unseen, path.Join(v.layersPath, esc, name))
		}
		out = append(out, l)
	}
	return out, nil
}

// launchEnv is the environment the launcher gives process typ (exec.d
// programs aside), with the layers' host paths turned into image paths.
func launchEnv(base []string, typ string, layers []bpLayers, v *view) (*env.Env, error) {
	e := env.New(base)
	for _, l := range layers {
		for _, h := range l.host {
			if err := envLink(h, typ); err != nil {
				return nil, err
			}
		}
		if err := e.AddBuildpackLayers(env.Launch, typ, l.host); err != nil {
			return nil, fmt.Errorf("reading the launch environment: %w", err)
		}
		for _, u := range l.unseen {
			e.Modify("PATH", env.Prepend, path.Join(u, "bin"), ":")
			e.Modify("LD_LIBRARY_PATH", env.Prepend, path.Join(u, "lib"), ":")
		}
	}
	for _, k := range []string{"PATH", "LD_LIBRARY_PATH"} {
		if s, ok := e.Lookup(k); ok {
			e.Set(k, strings.ReplaceAll(s, v.layersDir, v.layersPath))
		}
	}
	return e, nil
}

// envLink returns an error naming an env dir or file of the host layer dir
// layer that is a symbolic link. The launcher reads them in the image;
// here they are read on the host, where a link the build made could name
// a host file, whose contents the check would print as the launch PATH.
func envLink(layer, typ string) error {
	for _, d := range []string{"env", "env.launch", filepath.Join("env.launch", typ)} {
		p := filepath.Join(layer, d)
		fi, err := os.Lstat(p)
		if err != nil {
			continue // missing: nothing to read
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: the check reads no links of the build's env dirs", p)
		}
		if !fi.IsDir() {
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		for _, ent := range ents {
			if ent.Type()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%s is a symbolic link: the check reads no links of the build's env dirs", filepath.Join(p, ent.Name()))
			}
		}
	}
	return nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ":")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checker checks one process.
type checker struct {
	v            *view
	proc         string
	path, ldPath []string
	wd           string
	seen         map[string]bool
	problems     []Problem
}

func (c *checker) fail(missing, fix string, args ...any) {
	c.problems = append(c.problems, Problem{Process: c.proc, Missing: missing, Fix: fmt.Sprintf(fix, args...)})
}

// process checks p's command.
func (c *checker) process(p launch.MetadataProcess) {
	if len(p.Command) == 0 {
		return
	}
	if !p.Direct {
		if _, n, _ := c.v.resolve("/bin/sh"); n.kind == missing {
			c.fail("it runs through a shell, and the run image has no /bin/sh",
				"give the process a command that runs directly (Buildpack API 0.9 and later), or use a run image with a shell")
		}
		return
	}
	name := p.Command[0]
	args := append(append([]string{}, p.Command[1:]...), p.Args...)
	if path.Base(name) == "kiln-exec" && len(args) > 0 {
		if !c.program(name, false) {
			return
		}
		if w := firstWord(args[0]); w != "" {
			c.program(w, true)
		}
		return
	}
	c.program(name, false)
}

// program finds name as the launcher (or kiln-exec, viaExec) would and
// checks it can run; it reports whether it can.
func (c *checker) program(name string, viaExec bool) bool {
	p, n, err := c.lookPath(name)
	if err != nil {
		c.fail(fmt.Sprintf("%s: %v", name, err), "fix the symbolic links of %s", name)
		return false
	}
	if n.kind == missing {
		where := "on the launch PATH (" + strings.Join(c.path, ":") + ")"
		if strings.Contains(name, "/") {
			where = "in the image (" + p + ")"
		}
		c.fail(fmt.Sprintf("command %q is not %s", name, where),
			"install what provides %s in a launch layer (launch = true; its bin/ is on PATH), or make the process run a command the image has", name)
		return false
	}
	return c.exec(p, n, viaExec, 0)
}

// lookPath resolves name: with a slash relative to the working dir, else
// in PATH's dirs; missing when nowhere.
func (c *checker) lookPath(name string) (string, node, error) {
	if strings.Contains(name, "/") {
		p := name
		if !path.IsAbs(p) {
			p = path.Join(c.wd, p)
		}
		return c.v.resolve(p)
	}
	for _, d := range c.path {
		if d == "" || !path.IsAbs(d) {
			continue
		}
		p, n, err := c.v.resolve(path.Join(d, name))
		if err != nil {
			continue
		}
		if n.kind == unknown || (n.kind == file && n.mode&0o111 != 0) {
			return p, n, nil
		}
	}
	return "", node{}, nil
}

// exec checks that the file p can be executed: its mode, its #! line, or
// its dynamic loader and libraries.
func (c *checker) exec(p string, n node, viaExec bool, depth int) bool {
	switch {
	case n.kind == unknown:
		return true
	case n.kind == missing:
		c.fail(p+" is not in the image", "make the process run a file the image has")
		return false
	case n.kind == dir:
		c.fail(p+" is a directory", "make the process run a program, not a directory")
		return false
	case n.mode&0o111 == 0:
		c.fail(p+" is not executable", "make it executable (chmod +x) in the buildpack or the source")
		return false
	case n.host == "" || depth > 4:
		return true // a run image program: the stack vouches for it
	}
	head, err := readHead(n.host)
	if err != nil {
		c.fail(fmt.Sprintf("%s cannot be read: %v", p, err), "check the file's permissions")
		return false
	}
	switch {
	case strings.HasPrefix(head, "#!"):
		return c.script(p, head, viaExec, depth)
	case strings.HasPrefix(head, "\x7fELF"):
		return c.elf(p, n.host)
	}
	return true
}

func readHead(host string) (string, error) {
	f, err := os.Open(host)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, 256)
	k, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", err
	}
	return string(buf[:k]), nil
}
