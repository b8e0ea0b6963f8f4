package project

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/internal/beneath"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// maxGitFile bounds each file read from a .git directory.
const maxGitFile = 1 << 20

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// GitSource describes the git checkout at dir for the
// io.buildpacks.project.metadata label: the commit HEAD points at, the
// branch, and the origin remote's URL with any credentials in it removed.
// It reads .git's files only (HEAD, the ref, packed-refs, config); it
// returns nil when dir is not the root of a git checkout or HEAD cannot be
// resolved. A .git file ("gitdir: PATH", a worktree or submodule) is
// followed wherever it points: use it on a source tree the user owns.
func GitSource(dir string) *labels.ProjectSource {
	g, ok := hostGitDir(dir)
	if !ok {
		return nil
	}
	return gitSource(g)
}

// UntrustedGitSource is GitSource for a source tree someone else made (a
// tarball kiln serve was sent): only a .git directory inside dir is read,
// through no symlink, never a .git file's gitdir, a worktree's common dir
// or anything else outside dir, so a hostile tree cannot make kiln copy
// a host repository's commit or remote into an image.
func UntrustedGitSource(dir string) *labels.ProjectSource {
	root := beneath.New(dir, nil)
	if err := root.CheckDir(".git"); err != nil {
		return nil
	}
	return gitSource(gitDir{read: func(name string) ([]byte, error) {
		return root.ReadFile(path.Join(".git", name), maxGitFile)
	}})
}

// gitDir reads files of one .git directory by their slash-separated
// names, and of the common dir of a worktree (common is nil otherwise).
type gitDir struct {
	read   func(name string) ([]byte, error)
	common func(name string) ([]byte, error)
	// parentConfig reads the config beside a bare-style gitdir (a
	// submodule's), when the gitdir's own has none.
	parentConfig func() ([]byte, error)
}

func gitSource(g gitDir) *labels.ProjectSource {
	head, err := g.read("HEAD")
	if err != nil {
		return nil
	}
	h := strings.TrimSpace(string(head))
	var commit, branch string
	if ref, ok := strings.CutPrefix(h, "ref: "); ok {
		if !validRef(ref) {
			return nil
		}
		commit = resolveRef(g, ref)
		branch = strings.TrimPrefix(ref, "refs/heads/")
	} else {
		commit = h
	}
	if !commitRE.MatchString(commit) {
		return nil
	}
	src := &labels.ProjectSource{Type: "git", Version: map[string]any{"commit": commit}}
	md := map[string]any{}
	if branch != "" {
		md["refs"] = []any{branch}
	}
	if remote := originURL(g); remote != "" {
		md["repository"] = remote
	}
	if len(md) > 0 {
		src.Metadata = md
	}
	return src
}

// validRef accepts a ref name below refs/ with no step out of .git.
func validRef(ref string) bool {
	if !strings.HasPrefix(ref, "refs/") || strings.Contains(ref, "..") || strings.Contains(ref, "\\") {
		return false
	}
	for _, part := range strings.Split(ref, "/") {
		if part == "" || part == "." {
			return false
		}
	}
	return true
}

// hostGitDir finds dir/.git: a directory, or a file "gitdir: PATH" (a
// worktree or submodule), with the worktree's common dir.
func hostGitDir(dir string) (gitDir, bool) {
	p := filepath.Join(dir, ".git")
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		return gitDir{}, false
	case fi.IsDir():
	case !fi.Mode().IsRegular():
		return gitDir{}, false
	default:
		b, err := readSmall(p)
		if err != nil {
			return gitDir{}, false
		}
		g, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
		if !ok || g == "" {
			return gitDir{}, false
		}
		if !filepath.IsAbs(g) {
			g = filepath.Join(dir, g)
		}
		if fi, err := os.Stat(g); err != nil || !fi.IsDir() {
			return gitDir{}, false
		}
		p = g
	}
	in := func(d string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) { return readSmall(filepath.Join(d, filepath.FromSlash(name))) }
	}
	g := gitDir{read: in(p), parentConfig: func() ([]byte, error) { return readSmall(filepath.Join(filepath.Dir(p), "config")) }}
	if c, err := readSmall(filepath.Join(p, "commondir")); err == nil {
		cd := strings.TrimSpace(string(c))
		if !filepath.IsAbs(cd) {
			cd = filepath.Join(p, cd)
		}
		g.common = in(cd)
	}
	return g, true
}

// resolveRef reads ref from its loose file or packed-refs (also in the
// common dir of a worktree).
func resolveRef(g gitDir, ref string) string {
	for _, read := range []func(string) ([]byte, error){g.read, g.common} {
		if read == nil {
			continue
		}
		if b, err := read(ref); err == nil {
			return strings.TrimSpace(string(b))
		}
		if b, err := read("packed-refs"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if sha, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok && name == ref {
					return sha
				}
			}
		}
	}
	return ""
}

// originURL reads remote "origin"'s url from the config, without
// credentials.
func originURL(g gitDir) string {
	b, err := g.read("config")
	if err != nil && g.common != nil {
		b, err = g.common("config")
	}
	if err != nil && g.parentConfig != nil {
		b, err = g.parentConfig()
	}
	if err != nil {
		return ""
	}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = strings.EqualFold(strings.Join(strings.Fields(strings.Trim(line, "[]")), " "), `remote "origin"`)
			continue
		}
		if k, v, ok := strings.Cut(line, "="); in && ok && strings.EqualFold(strings.TrimSpace(k), "url") {
			return redact(strings.Trim(strings.TrimSpace(v), `"`))
		}
	}
	return ""
}

// redact drops the user info (tokens, passwords) from a URL; scp-like
// addresses (git@host:path) keep their user name, which is no secret.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if strings.Contains(raw, "://") {
			return "" // unparseable URL: it may hold a secret
		}
		return raw
	}
	u.User = nil
	return u.String()
}

func readSmall(p string) ([]byte, error) {
	// O_NONBLOCK: a FIFO (or a link to one) is refused below, not waited on.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxGitFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxGitFile {
		return nil, fmt.Errorf("%s is too large", p)
	}
	return b, nil
}
