package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/execlayer"
	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// scripts are the files an app runs as `python3 <file>`, in order.
var scripts = []string{"app.py", "main.py", "server.py"}

// entry is how the app starts: a command line, and why.
type entry struct {
	line   string
	source string
}

// findEntry works out the entry point a user means: app.py, main.py or
// server.py run with python3; wsgi.py with gunicorn and asgi.py with
// uvicorn when the app installed them; a package with __main__.py run
// with python3 -m. ok is false with none; hint then says what was close.
func (b *builder) findEntry() (e entry, hint string, ok bool) {
	app := b.bc.AppDir
	for _, f := range scripts {
		if fsutil.IsFile(filepath.Join(app, f)) {
			return entry{"python3 " + f, f}, "", true
		}
	}
	servers := []struct{ file, server, line string }{
		{"asgi.py", "uvicorn", "uvicorn asgi:%s --host 0.0.0.0 --port ${PORT:-8080}"},
		{"wsgi.py", "gunicorn", "gunicorn --bind 0.0.0.0:${PORT:-8080} wsgi:%s"},
	}
	for _, s := range servers {
		p := filepath.Join(app, s.file)
		if !fsutil.IsFile(p) {
			continue
		}
		if !b.installed(s.server) {
			hint = s.file + " is there, but " + s.server + " is not among the dependencies (add it to requirements.txt to serve it)"
			continue
		}
		return entry{strings.Replace(s.line, "%s", appObject(p), 1), s.file + " served by " + s.server}, "", true
	}
	entries, _ := os.ReadDir(app)
	for _, d := range entries {
		if d.IsDir() && !strings.HasPrefix(d.Name(), ".") && fsutil.IsFile(filepath.Join(app, d.Name(), "__main__.py")) {
			return entry{"python3 -m " + d.Name(), d.Name() + "/__main__.py"}, "", true
		}
	}
	return entry{}, hint, false
}

// installed reports whether the packages layer holds the module name.
func (b *builder) installed(name string) bool {
	return b.site != "" && (fsutil.IsDir(filepath.Join(b.site, name)) || fsutil.IsFile(filepath.Join(b.site, name+".py")))
}

var assignRe = regexp.MustCompile(`(?m)^(application|app)\s*[:=]`)

// appObject is the WSGI/ASGI object a wsgi.py or asgi.py defines:
// "application" (Django's name) unless only "app" is assigned.
func appObject(p string) string {
	data, _ := os.ReadFile(p)
	names := map[string]bool{}
	for _, m := range assignRe.FindAllSubmatch(data, -1) {
		names[string(m[1])] = true
	}
	if !names["application"] && (names["app"] || bytes.Contains(data, []byte("def app("))) {
		return "app"
	}
	return "application"
}

// setProcess adds the web process, unless a Procfile names the
// processes; an app without an entry point fails the build, rather than
// making an image with nothing to run.
func (b *builder) setProcess() error {
	app := b.bc.AppDir
	if fsutil.IsFile(filepath.Join(app, "Procfile")) {
		b.log.Step("A Procfile names the processes; not adding one")
		return nil
	}
	e, hint, ok := b.findEntry()
	if !ok {
		msg := "no entry point: no app.py, main.py or server.py, no wsgi.py or asgi.py with gunicorn or uvicorn installed, no package with __main__.py, and no Procfile"
		if hint != "" {
			msg += "; " + hint
		}
		return sdk.Fix(errors.New(msg), "add a Procfile with the command that starts the app, such as `web: python3 serve.py` or `web: gunicorn myapp.wsgi`")
	}
	cmd, err := execlayer.Command(b.bc, e.line)
	if err != nil {
		return err
	}
	b.bc.Launch.AddProcess(sdk.Process{Type: "web", Command: cmd, Default: true})
	b.log.Step("Process web (default): %s, from %s", e.line, e.source)
	return nil
}
