package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/internal/layerbom"
	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func main() { sdk.Main(detect, build) }

// siteDirs are where a site's index.html is looked for, build outputs
// first: after a Node.js build, dist/ or build/ holds the real site while
// public/ may hold its template.
var siteDirs = []string{"dist", "build", "public", "."}

// serverBinary is the static server's file name in the buildpack's bin/.
const serverBinary = "static-server"

func detect(_ context.Context, dc *sdk.DetectContext) (sdk.BuildPlan, error) {
	app := dc.AppDir
	var pkg *nodepkg.Package
	// after a Node.js build the Node.js buildpack learns from the plan
	// that the site is served as files: it keeps Node.js and the
	// dependencies out of the image
	var plan sdk.BuildPlan
	if fsutil.IsFile(filepath.Join(app, "package.json")) {
		if p, err := nodepkg.Read(app); err == nil {
			reason, static := nodepkg.ServesStatic(app, p)
			start, hasStart := nodepkg.StartOf(app, p)
			if hasStart && !static {
				return sdk.BuildPlan{}, sdk.Fail("Static: a Node.js server app (%s); the Node.js buildpack serves it", start.Source)
			}
			if static {
				dc.Log.Step("Static: %s", reason)
			}
			pkg = p
			plan = sdk.BuildPlan{Requires: []sdk.Require{{Name: "node", Metadata: map[string]any{"serve": "static"}}}}
		}
	}
	if dir, ok := findSite(app, dc.Getenv("BP_STATIC_ROOT")); ok {
		dc.Log.Step("Static: found %s", filepath.Join(dir, "index.html"))
		return plan, nil
	}
	if pkg != nil && pkg.Scripts["build"] != "" {
		dc.Log.Step("Static: expecting index.html in dist/, build/ or public/ after the build script runs")
		return plan, nil
	}
	return sdk.BuildPlan{}, sdk.Fail("Static: no index.html in dist/, build/, public/ or the app root")
}

// findSite returns the site directory relative to app ("." for the root).
func findSite(app, bpRoot string) (string, bool) {
	dirs := siteDirs
	if r := strings.TrimSpace(bpRoot); r != "" {
		dirs = []string{filepath.Clean(r)}
	}
	for _, d := range dirs {
		if fsutil.IsFile(filepath.Join(app, d, "index.html")) {
			return d, true
		}
	}
	return "", false
}

func build(_ context.Context, bc *sdk.BuildContext) error {
	log := bc.Log
	bpRoot := bc.Getenv("BP_STATIC_ROOT")
	if r := filepath.Clean(strings.TrimSpace(bpRoot)); bpRoot != "" && (filepath.IsAbs(r) || r == ".." || strings.HasPrefix(r, "../")) {
		return sdk.Fix(fmt.Errorf("BP_STATIC_ROOT=%q is not a directory inside the app", bpRoot), "set BP_STATIC_ROOT to a relative directory such as public")
	}
	dir, ok := findSite(bc.AppDir, bpRoot)
	if !ok {
		where := "dist/, build/, public/ or the app root"
		if bpRoot != "" {
			where = "BP_STATIC_ROOT=" + bpRoot
		}
		return sdk.Fix(errors.New("no index.html in "+where),
			"add an index.html, make the build script write the site to dist/ or build/, or set BP_STATIC_ROOT to the directory that holds it")
	}
	log.Step("Serving %s", filepath.Join(dir, "index.html"))
	if !fsutil.IsFile(filepath.Join(bc.AppDir, dir, "404.html")) {
		log.Detail("no %s: missing pages get a plain 404 answer", filepath.Join(dir, "404.html"))
	}

	src := filepath.Join(bc.Buildpack.Dir, "bin", serverBinary)
	sum, err := fsutil.FileSHA256(src)
	if err != nil {
		return sdk.Fix(err, "reinstall the buildpack: its static server is missing")
	}
	layer, err := bc.Layer("server", sdk.LayerTypes{Launch: true})
	if err != nil {
		return err
	}
	// The same server as last time: the previous image's layer is kept
	// (a launch-only layer comes back as its metadata alone), so the
	// exporter neither reads nor writes it again.
	dst := filepath.Join(layer.Path, "bin", "kiln-static")
	reused, err := layer.Reuse(map[string]any{"server-sha256": sum})
	if err != nil {
		return err
	}
	// written on reuse too: SBOM files are not restored
	if err := layerbom.ToolSBOM(bc, layer, "kiln-static", src, sum); err != nil {
		return err
	}
	if !reused {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
		}
		if err := fsutil.CopyFile(src, dst, 0o755); err != nil {
			return err
		}
		log.Step("Installed kiln's static file server into layer %s", layer.Name)
	}

	cmd := []string{dst, "-root", dir}
	spa, _ := strconv.ParseBool(bc.Getenv("BP_STATIC_SPA"))
	if spa {
		cmd = append(cmd, "-spa")
		log.Detail("BP_STATIC_SPA: unknown paths get index.html")
	}
	bc.Launch.AddProcess(sdk.Process{Type: "web", Command: cmd, Default: true})
	log.Detail("process \"web\" runs %s, listening on $PORT (default 8080)", strings.Join(cmd, " "))
	return nil
}
