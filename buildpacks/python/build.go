package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/debian"
	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

// pipWheels are the Debian packages holding the wheels pip needs to run
// and to build source distributions.
var pipWheels = []string{"python3-pip-whl", "python3-setuptools-whl", "python3-wheel-whl"}

type builder struct {
	bc      *sdk.BuildContext
	log     *sdk.Logger
	archive *debian.Archive
	release *debian.Release
	index   *debian.Index
	project project

	python, pip *sdk.Layer
	environ     []string
	// site is the packages layer's site-packages, once installed.
	site string
}

func build(ctx context.Context, bc *sdk.BuildContext) error {
	b := &builder{bc: bc, log: bc.Log}
	pr, err := readPyproject(bc.AppDir)
	if err != nil {
		return sdk.Fix(err, "fix the TOML syntax of pyproject.toml at the line shown")
	}
	b.project = pr
	cons, err := versionConstraints(bc.AppDir, pr, bc.Getenv("BP_PYTHON_VERSION"))
	if err != nil {
		return sdk.Fix(err, "name a CPython version such as 3.11, or a specifier such as >=3.10")
	}
	fc := fetch.New(bc.Getenv("BP_DOWNLOAD_CACHE"), b.log.Detail)
	t := bc.Target
	if b.archive, err = debian.ArchiveFor(t.DistroName, t.DistroVersion, t.Arch, bc.Getenv, fc); err != nil {
		return sdk.Fix(err, "build on a Debian-based stack, or set BP_DEBIAN_SUITE")
	}
	b.archive.Logf = b.log.Detail
	if b.release, err = b.archive.Release(ctx); err != nil {
		return sdk.Fix(err, "make sure the Debian mirror %s is reachable (BP_DEBIAN_MIRROR) and gpgv and debian-archive-keyring are in the build image", cmp.Or(b.archive.Mirror, debian.DefaultMirror))
	}
	if err := b.installPython(ctx, cons); err != nil {
		return err
	}
	if err := b.writePythonSBOM(); err != nil {
		return err
	}
	if err := b.installPip(ctx); err != nil {
		return err
	}
	if err := b.installPackages(ctx); err != nil {
		return err
	}
	return b.setProcess()
}

// loadIndex fetches the suite's package index once.
func (b *builder) loadIndex(ctx context.Context) (*debian.Index, error) {
	if b.index != nil {
		return b.index, nil
	}
	ix, err := b.archive.IndexOf(ctx, b.release)
	if err != nil {
		return nil, sdk.Fix(err, "make sure the Debian mirror is reachable")
	}
	b.index = ix
	return ix, nil
}

func constraintKey(cons []constraint) string {
	var s []string
	for _, c := range cons {
		s = append(s, c.source)
	}
	sort.Strings(s)
	return strings.Join(s, "; ")
}

func (b *builder) installPython(ctx context.Context, cons []constraint) error {
	bc, log := b.bc, b.log
	layer, err := bc.Layer("python", sdk.LayerTypes{Launch: true, Build: true, Cache: true})
	if err != nil {
		return err
	}
	b.python = layer
	key := map[string]string{
		"suite":           b.archive.Suite,
		"arch":            b.archive.Arch,
		"packages-sha256": b.release.PackagesSHA256,
		"request":         constraintKey(cons),
	}
	reused, err := layer.Reuse(key)
	if err != nil {
		return err
	}
	if !reused {
		ix, err := b.loadIndex(ctx)
		if err != nil {
			return err
		}
		var cands []candidate
		for _, p := range pythonPackages(ix) {
			v, err := upstreamVersion(p.Version)
			if err != nil {
				continue
			}
			cands = append(cands, candidate{pkg: p.Name, version: v})
		}
		c, err := choosePython(cands, cons, b.archive.Suite)
		if err != nil {
			return sdk.Fix(err, "change the version the app asks for, or build on a stack whose Debian release has that Python (BP_DEBIAN_SUITE)")
		}
		pkgs, err := ix.Resolve([]string{c.pkg}, debian.BaseSystem)
		if err != nil {
			return err
		}
		log.Detail("Installing %s from Debian %s (%d packages)", c.pkg, b.archive.Suite, len(pkgs))
		if err := b.archive.Install(ctx, pkgs, layer.Path, debian.DocPaths); err != nil {
			return sdk.Fix(err, "make sure the Debian mirror is reachable")
		}
		if err := linkPython(layer.Path, c.pkg); err != nil {
			return err
		}
		layer.Info["version"] = c.version.String()
		layer.Info["package"] = c.pkg
	}
	log.Step("Using CPython %v from Debian %s", layer.Info["version"], b.archive.Suite)
	for _, c := range cons {
		log.Detail("asked for by %s", c.source)
	}

	// the interpreter's libraries stay in the Debian layout; point the
	// dynamic linker at them, for later buildpacks and at launch
	libDirs := libraryDirs(layer.Path)
	if len(libDirs) > 0 {
		if err := layer.SharedEnv().Prepend("LD_LIBRARY_PATH", strings.Join(libDirs, ":"), ":"); err != nil {
			return err
		}
	}
	if err := layer.LaunchEnv().Default("PYTHONUNBUFFERED", "1"); err != nil {
		return err
	}
	vars := map[string]string{
		"PATH":            filepath.Join(layer.Path, "bin") + ":" + b.bc.Getenv("PATH"),
		"LD_LIBRARY_PATH": strings.TrimSuffix(strings.Join(libDirs, ":")+":"+b.bc.Getenv("LD_LIBRARY_PATH"), ":"),
	}
	if bc.Getenv("PIP_CERT") == "" && bc.Getenv("SSL_CERT_FILE") != "" {
		vars["PIP_CERT"] = bc.Getenv("SSL_CERT_FILE") // pip's own CA list does not know the build's CAs
	}
	b.environ = sdk.MergeEnv(os.Environ(), vars)
	// check that the interpreter works before anything depends on it
	cmd := exec.CommandContext(ctx, filepath.Join(layer.Path, "bin", "python3"), "-c", "import ssl, sqlite3, json, zlib, ctypes; import sys; print('CPython', sys.version.split()[0], 'in', sys.prefix)")
	// No bytecode from this check: it would change the layer's bytes from
	// one build to the next.
	cmd.Env = append(append([]string(nil), b.environ...), "PYTHONDONTWRITEBYTECODE=1")
	if err := log.RunCommand(cmd); err != nil {
		return fmt.Errorf("the installed CPython does not run: %w", err)
	}
	return nil
}

// pythonPackages lists the python3.X packages of the index (real ones,
// not packages that only provide the name).
func pythonPackages(ix *debian.Index) []*debian.Package {
	var out []*debian.Package
	for minor := 6; minor <= 30; minor++ {
		name := fmt.Sprintf("python3.%d", minor)
		if p, ok := ix.Lookup(name); ok && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// linkPython makes bin/python3, bin/python and bin/python3.X in the layer
// point at the interpreter, so that the layer's bin/ on PATH finds it.
func linkPython(layer, pkg string) error {
	bin := filepath.Join(layer, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", bin, err)
	}
	target := filepath.Join("..", "usr", "bin", pkg)
	if _, err := os.Stat(filepath.Join(bin, target)); err != nil {
		return fmt.Errorf("package %s has no usr/bin/%s: %w", pkg, pkg, err)
	}
	for _, n := range []string{pkg, "python3", "python"} {
		if err := fsutil.Symlink(target, filepath.Join(bin, n)); err != nil {
			return err
		}
	}
	return nil
}

// libraryDirs are the multiarch library directories of the layer.
func libraryDirs(layer string) []string {
	var out []string
	for _, pattern := range []string{"usr/lib/*-linux-gnu*", "lib/*-linux-gnu*"} {
		m, _ := filepath.Glob(filepath.Join(layer, pattern))
		for _, d := range m {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				out = append(out, d)
			}
		}
	}
	return out
}

func (b *builder) installPip(ctx context.Context) error {
	layer, err := b.bc.Layer("pip", sdk.LayerTypes{Build: true, Cache: true})
	if err != nil {
		return err
	}
	b.pip = layer
	reused, err := layer.Reuse(map[string]string{"suite": b.archive.Suite, "arch": b.archive.Arch, "packages-sha256": b.release.PackagesSHA256})
	if err != nil || reused {
		return err
	}
	ix, err := b.loadIndex(ctx)
	if err != nil {
		return err
	}
	var pkgs []*debian.Package
	for _, n := range pipWheels {
		p, ok := ix.Lookup(n)
		if !ok {
			//lint:ignore ST1005 the message starts with a proper noun
			return fmt.Errorf("Debian %s has no %s package", b.archive.Suite, n)
		}
		pkgs = append(pkgs, p)
	}
	return b.archive.Install(ctx, pkgs, layer.Path, debian.DocPaths)
}

// wheelDir is where the pip layer keeps its wheels.
func (b *builder) wheelDir() string {
	return filepath.Join(b.pip.Path, "usr", "share", "python-wheels")
}

func (b *builder) pipWheel() (string, error) {
	m, _ := filepath.Glob(filepath.Join(b.wheelDir(), "pip-*.whl"))
	if len(m) == 0 {
		return "", fmt.Errorf("no pip wheel in %s", b.wheelDir())
	}
	return m[0], nil
}

// vendorDir returns the app's vendored wheel directory, if it has one.
func vendorDir(app string) string {
	d := filepath.Join(app, "vendor")
	for _, pat := range []string{"*.whl", "*.tar.gz", "*.zip"} {
		if m, _ := filepath.Glob(filepath.Join(d, pat)); len(m) > 0 {
			return d
		}
	}
	return ""
}

func (b *builder) installPackages(ctx context.Context) error {
	bc, log := b.bc, b.log
	app := bc.AppDir
	reqPath := filepath.Join(app, "requirements.txt")
	var reqs []string
	source := ""
	if data, err := os.ReadFile(reqPath); err == nil {
		reqs, source = requirementLines(data), "requirements.txt"
	} else if len(b.project.Dependencies) > 0 {
		reqs, source = b.project.Dependencies, "[project].dependencies in pyproject.toml"
	} else if b.project.HasPoetry {
		log.Warn("pyproject.toml uses Poetry, which this buildpack does not run; export a requirements.txt (poetry export) to install dependencies")
	}
	if len(reqs) == 0 {
		log.Step("No dependencies to install")
		return nil
	}
	vendor := vendorDir(app)
	key, err := packagesKey(source, reqs, vendor, bc.Getenv)
	if err != nil {
		return err
	}
	layer, err := bc.Layer("packages", sdk.LayerTypes{Launch: true, Build: true, Cache: true})
	if err != nil {
		return err
	}
	site := filepath.Join(layer.Path, "site-packages")
	b.site = site
	reused, err := layer.Reuse(map[string]string{
		"requirements-sha256": key,
		"python":              fmt.Sprint(b.python.Info["version"]),
	})
	if err != nil {
		return err
	}
	if !reused {
		cache, err := bc.Layer("pip-cache", sdk.LayerTypes{Cache: true})
		if err != nil {
			return err
		}
		if _, err := cache.Reuse(map[string]string{"layout": "1"}); err != nil {
			return err
		}
		wheel, err := b.pipWheel()
		if err != nil {
			return err
		}
		reqFile := reqPath
		if source != "requirements.txt" {
			tmp, err := os.CreateTemp("", "requirements-*.txt")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := tmp.WriteString(strings.Join(reqs, "\n") + "\n"); err != nil {
				return err
			}
			tmp.Close()
			reqFile = tmp.Name()
		}
		args := []string{filepath.Join(wheel, "pip"), "install", "--target", site, "--no-input", "--disable-pip-version-check",
			"--no-warn-script-location", "--cache-dir", cache.Path, "--find-links", b.wheelDir()}
		if vendor != "" {
			log.Detail("using the vendored packages in vendor/ (--no-index)")
			args = append(args, "--no-index", "--find-links", vendor)
		}
		args = append(args, "-r", reqFile)
		cmd := exec.CommandContext(ctx, filepath.Join(b.python.Path, "bin", "python3"), args...)
		cmd.Dir = app
		cmd.Env = b.environ
		if err := log.RunCommand(cmd); err != nil {
			return sdk.Fix(err, "fix the pip error above: put the wheels of every requirement in vendor/, or point PIP_INDEX_URL at a package index this build can reach")
		}
	}
	log.Step("Installed the packages of %s into layer %s", source, layer.Name)
	if err := b.writePackagesSBOM(layer, site); err != nil {
		return err
	}
	if err := layer.SharedEnv().PrependPath("PYTHONPATH", site); err != nil {
		return err
	}
	return layer.SharedEnv().PrependPath("PATH", filepath.Join(site, "bin"))
}

// packagesKey is the hash the packages layer is kept by: where the
// requirements come from and what they say, the vendored files (names,
// sizes and contents), and pip's index settings.
func packagesKey(source string, reqs []string, vendor string, getenv func(string) string) (string, error) {
	parts := append([]string{source}, reqs...)
	if vendor != "" {
		entries, err := os.ReadDir(vendor)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", vendor, err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			h, err := fsutil.HashFiles(filepath.Join(vendor, e.Name()))
			if err != nil {
				return "", err
			}
			parts = append(parts, "vendor/"+e.Name()+":"+h)
		}
	}
	for _, k := range []string{"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"} {
		parts = append(parts, k+"="+getenv(k))
	}
	return hashStrings(parts), nil
}

// hashStrings is the hex SHA-256 of parts, each ended by a newline.
func hashStrings(parts []string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}
