package project

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

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
// resolved.
func GitSource(dir string) *labels.ProjectSource {
	gitDir, ok := findGitDir(dir)
	if !ok {
		return nil
	}
	head, err := readSmall(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return nil
	}
	h := strings.TrimSpace(string(head))
	var commit, branch string
	if ref, ok := strings.CutPrefix(h, "ref: "); ok {
		if !strings.HasPrefix(ref, "refs/") || strings.Contains(ref, "..") {
			return nil
		}
		commit = resolveRef(gitDir, ref)
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
	if remote := originURL(gitDir); remote != "" {
		md["repository"] = remote
	}
	if len(md) > 0 {
		src.Metadata = md
	}
	return src
}

// findGitDir finds dir/.git: a directory, or a file "gitdir: PATH" (a
// worktree or submodule).
func findGitDir(dir string) (string, bool) {
	p := filepath.Join(dir, ".git")
	fi, err := os.Lstat(p)
	switch {
	case err != nil:
		return "", false
	case fi.IsDir():
		return p, true
	case !fi.Mode().IsRegular():
		return "", false
	}
	b, err := readSmall(p)
	if err != nil {
		return "", false
	}
	g, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
	if !ok || g == "" {
		return "", false
	}
	if !filepath.IsAbs(g) {
		g = filepath.Join(dir, g)
	}
	if fi, err := os.Stat(g); err != nil || !fi.IsDir() {
		return "", false
	}
	return g, true
}

// resolveRef reads ref from its loose file or packed-refs (also in the
// common dir of a worktree).
func resolveRef(gitDir, ref string) string {
	dirs := []string{gitDir}
	if c, err := readSmall(filepath.Join(gitDir, "commondir")); err == nil {
		cd := strings.TrimSpace(string(c))
		if !filepath.IsAbs(cd) {
			cd = filepath.Join(gitDir, cd)
		}
		dirs = append(dirs, cd)
	}
	for _, d := range dirs {
		if b, err := readSmall(filepath.Join(d, filepath.FromSlash(ref))); err == nil {
			return strings.TrimSpace(string(b))
		}
		if b, err := readSmall(filepath.Join(d, "packed-refs")); err == nil {
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
func originURL(gitDir string) string {
	b, err := readSmall(filepath.Join(gitDir, "config"))
	if err != nil {
		b, err = readSmall(filepath.Join(filepath.Dir(gitDir), "config"))
		if err != nil {
			return ""
		}
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
