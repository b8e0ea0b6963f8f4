package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/internal/npmreg"
	"github.com/kiln-build/kiln/buildpacks/internal/semver"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// choosePM picks the package manager and says why.
func (b *builder) choosePM() error {
	pm, warns, err := choosePackageManager(b.bc.AppDir, b.pkg)
	if err != nil {
		return sdk.Fix(err, "set packageManager to npm@<version>, yarn@<version> or pnpm@<version>")
	}
	for _, w := range warns {
		b.log.Warn("%s", w)
	}
	b.pm = pm
	what := pm.Name
	if pm.Berry {
		what = "yarn (Berry)"
	}
	b.log.Step("Installing dependencies with %s: %s", what, pm.Source)
	return nil
}

// installPM puts Yarn or pnpm, the version the app asks for, into a
// cached build layer; npm comes from installNpm.
func (b *builder) installPM(ctx context.Context, nodeVersion string) error {
	pm := b.pm
	if pm.Name == "npm" {
		return nil
	}
	pkgName := pm.npmPackage()
	layer, err := b.bc.Layer(pm.Name, sdk.LayerTypes{Build: true, Cache: true})
	if err != nil {
		return err
	}
	b.pmLayer = layer
	reused, err := layer.Reuse(map[string]string{"package": pkgName, "range": pm.Version, "node": nodeVersion})
	if err != nil {
		return err
	}
	if !reused {
		if err := b.fetchPM(ctx, pkgName, nodeVersion); err != nil {
			return err
		}
	}
	cli, err := binOf(layer.Path, pm.Name)
	if err != nil {
		return err
	}
	b.pmCLI = cli
	b.log.Step("Using %s %v", pkgName, layer.Info["version"])
	// a shim on PATH, for build scripts that run yarn or pnpm
	shim := filepath.Join(layer.Path, "bin", pm.Name)
	script := fmt.Sprintf("#!/bin/sh\nexec %q %q \"$@\"\n", filepath.Join(b.nodeLayer.Path, "bin", "node"), cli)
	if err := os.MkdirAll(filepath.Dir(shim), 0o755); err != nil {
		return err
	}
	return os.WriteFile(shim, []byte(script), 0o755)
}

func (b *builder) fetchPM(ctx context.Context, pkgName, nodeVersion string) error {
	pm := b.pm
	p, err := b.reg.Packument(ctx, pkgName)
	if err != nil {
		return sdk.Fix(err, "make sure the npm registry %s is reachable", b.reg.URL)
	}
	rng, err := semver.ParseRange(pm.Version)
	if err != nil {
		return sdk.Fix(fmt.Errorf("%s version %q (%s): %w", pm.Name, pm.Version, pm.Source, err), "use a version such as 9.9.0 or a range such as ^9")
	}
	node := semver.MustParse(nodeVersion)
	info, ok := p.Resolve(rng, func(v npmreg.Version) bool {
		r, err := semver.ParseRange(cmp.Or(v.Engines["node"], "*"))
		return err == nil && r.Contains(node)
	})
	if !ok {
		return sdk.Fix(fmt.Errorf("no release of %s %q (%s) supports Node.js %s", pkgName, pm.Version, pm.Source, nodeVersion),
			"choose %s and Node.js versions that go together", pm.Name)
	}
	if err := b.reg.Install(ctx, pkgName, info, b.pmLayer.Path, func(p string) bool { return p == "docs" || p == "man" }); err != nil {
		return sdk.Fix(err, "make sure the npm registry %s is reachable", b.reg.URL)
	}
	b.pmLayer.Info["version"] = info.Version
	return nil
}

// binOf is the JavaScript file package.json in dir names as bin name.
func binOf(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", fmt.Errorf("reading the %s package: %w", name, err)
	}
	var p struct {
		Bin json.RawMessage `json:"bin"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return "", fmt.Errorf("reading the %s package's package.json: %w", name, err)
	}
	var bins map[string]string
	if json.Unmarshal(p.Bin, &bins) != nil || bins[name] == "" {
		return "", fmt.Errorf("the %s package names no %s program", name, name)
	}
	return filepath.Join(dir, filepath.FromSlash(bins[name])), nil
}

// runPM runs the package manager in the app directory.
func (b *builder) runPM(ctx context.Context, args ...string) error {
	if b.pm.Name == "npm" {
		return b.npm(ctx, args...)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(b.nodeLayer.Path, "bin", "node"), append([]string{b.pmCLI}, args...)...)
	cmd.Dir = b.bc.AppDir
	cmd.Env = b.environ
	cmd.Args[0] = b.pm.Name
	return b.log.RunCommand(cmd)
}

// installHint is the fix for a failed install: the lockfile is to blame
// only when the tool said so.
func (b *builder) installHint() string {
	pm := b.pm
	if pm.Lock == "" {
		return fmt.Sprintf("fix the %s error above", pm.Name)
	}
	return fmt.Sprintf("fix the %s error above; when it says %s does not match package.json, run `%s install` and commit both", pm.Name, pm.lockName(), pm.Name)
}

// installModules installs the dependencies and runs the build script.
func (b *builder) installModules(ctx context.Context, nodeVersion string) error {
	bc, log := b.bc, b.log
	app := bc.AppDir
	appModules := filepath.Join(app, "node_modules")
	buildScript := b.pkg.Scripts["build"]
	if b.pm.Lock == "" && len(b.pkg.Dependencies) == 0 && len(b.pkg.DevDependencies) == 0 {
		log.Step("No dependencies in package.json")
		if buildScript != "" {
			return b.runBuild(ctx)
		}
		return nil
	}
	if fi, err := os.Lstat(appModules); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		log.Warn("ignoring the node_modules directory in the source; dependencies are installed from %s", filepath.Base(cmp.Or(b.pm.Lock, "package.json")))
		if err := os.RemoveAll(appModules); err != nil {
			return fmt.Errorf("removing %s: %w", appModules, err)
		}
	}
	keyFiles := []string{b.pm.Lock}
	if b.pm.Lock == "" {
		keyFiles = []string{filepath.Join(app, "package.json")}
		log.Warn("no lockfile (%s): dependencies are resolved anew on every change; commit one for repeatable builds", strings.Join(lockfiles[b.pm.Name], " or "))
	}
	for _, rc := range []string{".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmfile.cjs"} {
		keyFiles = append(keyFiles, filepath.Join(app, rc))
	}
	hash, err := fsutil.HashFiles(keyFiles...)
	if err != nil {
		return err
	}
	keepDev, why := b.startNeedsDev()
	if keepDev {
		log.Step("Keeping devDependencies in the image: %s", why)
	}
	key := func(prod bool) map[string]string {
		return map[string]string{"dependencies-sha256": hash, "node": nodeVersion, "pm": b.pm.Name + " " + b.pm.Version,
			"install": strings.Join(b.pm.installArgs(prod), " ")}
	}
	if buildScript == "" && b.static == "" {
		return b.installLaunch(ctx, appModules, key(!keepDev), !keepDev, nil)
	}

	// with a build script: all dependencies for the build, production ones
	// (or all, keepDev) for launch
	dev, err := bc.Layer("dev-modules", sdk.LayerTypes{Cache: true})
	if err != nil {
		return err
	}
	reused, err := dev.Reuse(key(false))
	if err != nil {
		return err
	}
	if !reused {
		_ = os.Remove(appModules)
		if err := b.runPM(ctx, b.pm.installArgs(false)...); err != nil {
			return sdk.Fix(err, "%s", b.installHint())
		}
		if err := b.adopt(appModules, dev); err != nil {
			return err
		}
	}
	if err := fsutil.Symlink(filepath.Join(dev.Path, "node_modules"), appModules); err != nil {
		return err
	}
	if buildScript != "" {
		if err := b.runBuild(ctx); err != nil {
			return err
		}
	}
	if b.static != "" {
		// the site is served as files: no dependency goes into the image
		return os.Remove(appModules)
	}
	if !keepDev {
		if keepDev, why = b.devBinNeeded(dev); keepDev {
			log.Step("Keeping devDependencies in the image: %s", why)
		}
	}
	return b.installLaunch(ctx, appModules, key(!keepDev), !keepDev, dev)
}

// installLaunch makes the "modules" launch layer: the production
// dependencies (all with prod unset), from dev's tree when there is one
// (npm prunes it), else installed anew.
func (b *builder) installLaunch(ctx context.Context, appModules string, key map[string]string, prod bool, dev *sdk.Layer) error {
	// the layers must not be called node_modules themselves: Node.js
	// does not look for packages in a node_modules inside a directory
	// named node_modules
	launch, err := b.bc.Layer("modules", sdk.LayerTypes{Launch: true, Cache: true})
	if err != nil {
		return err
	}
	b.modules = launch
	reused, err := launch.Reuse(key)
	if err != nil {
		return err
	}
	if reused {
		return b.linkModules(appModules, launch)
	}
	if err := os.Remove(appModules); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", appModules, err)
	}
	switch {
	case dev != nil && (!prod || b.pm.Name == "npm"):
		if err := fsutil.CopyTree(filepath.Join(dev.Path, "node_modules"), appModules); err != nil {
			return err
		}
		if prod {
			if err := b.npm(ctx, "prune", "--omit=dev"); err != nil {
				return sdk.Fix(err, "fix the npm error above")
			}
		}
	default:
		if err := b.runPM(ctx, b.pm.installArgs(prod)...); err != nil {
			return sdk.Fix(err, "%s", b.installHint())
		}
	}
	if err := b.adopt(appModules, launch); err != nil {
		return err
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
	if err := b.runPM(ctx, "run", "build"); err != nil {
		return sdk.Fix(err, "fix the error of the build script above (it ran `%s run build`: %s)", b.pm.Name, b.pkg.Scripts["build"])
	}
	return nil
}
