package project

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// Ref turns a group entry into what kiln build's --buildpack takes: a
// buildpack directory (a relative URI is resolved against the project
// root, an inline script is written under tmp) or an id[@version] the
// builder has.
func (d *Descriptor) Ref(b Buildpack, tmp string) (string, error) {
	switch {
	case b.Script != nil:
		return b.Materialize(tmp)
	case b.URI != "":
		return d.resolveURI(b)
	case b.Version != "":
		return b.ID + "@" + b.Version, nil
	}
	return b.ID, nil
}

// resolveURI resolves a URI naming a buildpack: a directory inside the
// project root (relative to it), or urn:cnb:builder:ID[@V]. The project
// may come from a stranger (a pushed repository), so nothing it names may
// lead out of its root, through symlinks either: no absolute paths, no
// file:// URIs, no "..", and the buildpack's descriptor must be a regular
// file.
func (d *Descriptor) resolveURI(b Buildpack) (string, error) {
	u := b.URI
	if rest, ok := strings.CutPrefix(u, "urn:cnb:builder:"); ok {
		if rest == "" {
			return "", fmt.Errorf("buildpack uri %q names no buildpack", u)
		}
		return rest, nil
	}
	if i := strings.Index(u, "://"); i > 0 || strings.HasPrefix(u, "urn:") {
		return "", fmt.Errorf("buildpack uri %q: a project names buildpack directories inside it and urn:cnb:builder: ids; give other buildpacks with --buildpack", b.URI)
	}
	p := filepath.FromSlash(u)
	if filepath.IsAbs(p) {
		return "", fmt.Errorf("buildpack uri %q: a project's buildpack directory must be inside the project, given relative to it", b.URI)
	}
	root, err := filepath.EvalSymlinks(d.Dir)
	if err != nil {
		return "", fmt.Errorf("buildpack uri %q: %w", b.URI, err)
	}
	full, err := filepath.EvalSymlinks(filepath.Join(root, p))
	if err != nil {
		return "", fmt.Errorf("buildpack uri %q: %w", b.URI, err)
	}
	if rel, err := filepath.Rel(root, full); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("buildpack uri %q leads out of the project (%s)", b.URI, root)
	}
	fi, err := os.Stat(full)
	if err != nil {
		return "", fmt.Errorf("buildpack uri %q: %w", b.URI, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("buildpack uri %q: %s is not a directory (packaged .cnb/.tgz buildpacks are given with --buildpack)", b.URI, full)
	}
	if fi, err := os.Lstat(filepath.Join(full, descriptor.BuildpackFile)); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("buildpack uri %q: %s has no %s (a regular file)", b.URI, full, descriptor.BuildpackFile)
	}
	return full, nil
}

// Materialize writes the inline buildpack b (an entry with a script) as a
// buildpack directory under tmp and returns its path: buildpack.toml with
// the script's API, bin/detect that always passes and bin/build that runs
// the inline script with its shell (/bin/sh by default) in the app dir.
func (b Buildpack) Materialize(tmp string) (string, error) {
	if b.Script == nil {
		return "", fmt.Errorf("buildpack %s has no script", b.ID)
	}
	dir, err := os.MkdirTemp(tmp, "inline-")
	if err == nil {
		err = os.Chmod(dir, 0o755) // the build's user reads it
	}
	if err != nil {
		return "", fmt.Errorf("writing inline buildpack %s: %w", b.ID, err)
	}
	shell := b.Script.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	version := b.Version
	if version == "" {
		version = "0.0.0"
	}
	desc := struct {
		API       string `toml:"api"`
		Buildpack struct {
			ID      string `toml:"id"`
			Version string `toml:"version"`
			Name    string `toml:"name"`
		} `toml:"buildpack"`
	}{API: b.Script.API}
	desc.Buildpack.ID, desc.Buildpack.Version, desc.Buildpack.Name = b.ID, version, "inline buildpack "+b.ID
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(dir, descriptor.BuildpackFile))
	if err != nil {
		return "", fmt.Errorf("writing inline buildpack %s: %w", b.ID, err)
	}
	err = toml.NewEncoder(f).Encode(desc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing inline buildpack %s: %w", b.ID, err)
	}
	files := map[string]string{
		"detect": "#!/bin/sh\nexit 0\n",
		"build":  "#!" + shell + "\n" + b.Script.Inline + "\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, "bin", name), []byte(body), 0o755); err != nil {
			return "", fmt.Errorf("writing inline buildpack %s: %w", b.ID, err)
		}
	}
	return dir, nil
}
