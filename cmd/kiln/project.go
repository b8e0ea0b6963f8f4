package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/project"
)

// descriptorFlag is kiln build's --descriptor.
var descriptorFlag = &cli.StringFlag{Name: "descriptor", Usage: "the project descriptor (project.toml, schema 0.1 or 0.2) to read; default: project.toml in --path, when there is one"}

// noProjectBuilderFlag keeps a project.toml from choosing the builder
// (kiln serve builds strangers' sources with the builder it chose).
var noProjectBuilderFlag = &cli.BoolFlag{Name: "no-project-builder", Usage: "ignore the builder the project descriptor names"}

// untrustedSourceFlag marks a source tree someone else made (kiln serve
// sets it): kiln then reads no host file the tree points at.
var untrustedSourceFlag = &cli.BoolFlag{Name: "untrusted-source", Usage: "the source came from someone else (kiln serve sets it): its git metadata is read only from a .git directory inside it, never through a .git file, a link or a worktree's common dir, and its provenance names the tree's digest, not the commit it claims; an image extension may switch only to a run image the builder lists"}

// readProject reads the project descriptor kiln build uses: --descriptor
// (which must exist), else src/project.toml when there is one. It returns
// nil without a descriptor.
func readProject(c *cli.Context, src string) (*project.Descriptor, error) {
	p := c.String("descriptor")
	if p == "" {
		p = filepath.Join(src, project.FileName)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		// the source may be a stranger's (kiln serve): its project.toml
		// may be a link, but not to a file outside the source tree
		if err := insideTree(src, p); err != nil {
			return nil, err
		}
	}
	return project.Read(p)
}

// projectBuilder is the builder the project descriptor names, if any
// (errors are left for the build to report).
func projectBuilder(c *cli.Context) string {
	if c.Bool("no-project-builder") {
		return ""
	}
	src, err := filepath.Abs(c.String("path"))
	if err != nil {
		return ""
	}
	d, err := readProject(c, src)
	if err != nil || d == nil {
		return ""
	}
	return d.Builder
}

// applyProject applies the descriptor d to the build options: include or
// exclude, the group (unless --buildpack was given), the pre and post
// groups, the build env (under --env-file and --env) and the project
// metadata label. Inline buildpacks are written under tmp.
func applyProject(c *cli.Context, d *project.Descriptor, o *create.Options, tmp string) error {
	o.Project = projectLabel(o.SourceDir, d, c.Bool(untrustedSourceFlag.Name))
	if d == nil {
		return nil
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "kiln: warning: %s: %s\n", d.Path, w)
	}
	o.SourceExclude = d.Filter(o.SourceDir)
	refs := func(bps []project.Buildpack) ([]string, error) {
		var out []string
		for _, b := range bps {
			r, err := d.Ref(b, tmp)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Path, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	var err error
	if len(o.Buildpacks) == 0 {
		if o.Buildpacks, err = refs(d.Group); err != nil {
			return err
		}
	}
	if o.PreBuildpacks, err = refs(d.Pre); err != nil {
		return err
	}
	if o.PostBuildpacks, err = refs(d.Post); err != nil {
		return err
	}
	env := make([]string, 0, len(d.Env)+len(o.Env))
	for _, e := range d.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	o.Env = mergeEnv(env, o.Env)
	return nil
}

// mergeEnv is base with the KEY=VALUE pairs of over set on top.
func mergeEnv(base, over []string) []string {
	idx := map[string]int{}
	var out []string
	for _, kv := range append(base, over...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// projectLabel is the io.buildpacks.project.metadata label: the git
// commit and remote of a checkout, else the version and source URL the
// descriptor declares.
func projectLabel(src string, d *project.Descriptor, untrusted bool) labels.Project {
	gitSource := project.GitSource
	if untrusted {
		gitSource = project.UntrustedGitSource
	}
	if s := gitSource(src); s != nil {
		return labels.Project{Source: s}
	}
	if d == nil || (d.Project.Version == "" && d.Project.SourceURL == "") {
		return labels.Project{}
	}
	s := &labels.ProjectSource{Type: "project"}
	if d.Project.Version != "" {
		s.Version = map[string]any{"declared": d.Project.Version}
	}
	if d.Project.SourceURL != "" {
		s.Metadata = map[string]any{"url": d.Project.SourceURL}
	}
	return labels.Project{Source: s}
}

// buildProject reads the project descriptor of the build o describes and
// applies it; the returned func removes what it wrote (inline buildpacks).
func buildProject(c *cli.Context, o *create.Options, cache string) (func(), error) {
	d, err := readProject(c, o.SourceDir)
	if err != nil {
		return func() {}, failure.New("project", failure.InvalidInput, err)
	}
	tmp := ""
	cleanup := func() {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	if d != nil && hasScript(d) {
		if err := os.MkdirAll(cache, 0o700); err != nil {
			return cleanup, err
		}
		if tmp, err = os.MkdirTemp(cache, "project-"); err != nil {
			return cleanup, fmt.Errorf("writing inline buildpacks: %w", err)
		}
	}
	if err := applyProject(c, d, o, tmp); err != nil {
		return cleanup, failure.New("project", failure.InvalidInput, err)
	}
	return cleanup, nil
}

func hasScript(d *project.Descriptor) bool {
	for _, g := range [][]project.Buildpack{d.Group, d.Pre, d.Post} {
		for _, b := range g {
			if b.Script != nil {
				return true
			}
		}
	}
	return false
}

// insideTree checks that p, symlinks resolved, is inside the tree root.
func insideTree(root, p string) error {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	full, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("reading project descriptor %s: %w", p, err)
	}
	if rel, err := filepath.Rel(r, full); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("project descriptor %s leads out of the source tree (%s)", p, full)
	}
	return nil
}
