package provenance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// Describe says what source dir holds: the checked-out commit and origin
// remote when dir is in a git checkout (and git is installed), else a
// sha256 digest of the tree (see TreeDigest). An empty dir describes
// nothing.
func Describe(ctx context.Context, dir string) (Source, error) {
	return describe(ctx, dir, true)
}

// DescribeUntrusted is Describe for a source tree someone else made (a
// tarball kiln serve was sent): it is described by its tree digest only.
// git is not run on it, since a .git it holds may point anywhere on this
// host, and what it claims about its commit is not evidence.
func DescribeUntrusted(ctx context.Context, dir string) (Source, error) {
	return describe(ctx, dir, false)
}

func describe(ctx context.Context, dir string, git bool) (Source, error) {
	if dir == "" {
		return Source{}, nil
	}
	if !git {
		d, err := TreeDigest(dir)
		if err != nil {
			return Source{}, err
		}
		return Source{Digest: map[string]string{"sha256": d}}, nil
	}
	if g, ok := gitSource(ctx, dir); ok {
		return Source{Git: g}, nil
	}
	d, err := TreeDigest(dir)
	if err != nil {
		return Source{}, err
	}
	return Source{Digest: map[string]string{"sha256": d}}, nil
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// gitSource asks the git CLI for HEAD's commit and the origin remote. Only
// plumbing that reads refs and config runs, with hooks and fsmonitor
// turned off: nothing a checkout's config names is executed.
func gitSource(ctx context.Context, dir string) (*GitSource, bool) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, false
	}
	git := func(args ...string) (string, error) {
		base := []string{"-c", "core.fsmonitor=false", "-c", "core.hooksPath=" + os.DevNull,
			"-c", "safe.directory=" + dir, "-C", dir}
		cmd := exec.CommandContext(ctx, "git", append(base, args...)...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
		var out bytes.Buffer
		cmd.Stdout = &out
		err := cmd.Run()
		return strings.TrimSpace(out.String()), err
	}
	top, err := git("rev-parse", "--show-toplevel")
	if err != nil || top == "" {
		return nil, false
	}
	commit, err := git("rev-parse", "--verify", "-q", "HEAD^{commit}")
	if err != nil || !commitRE.MatchString(commit) {
		return nil, false // a repository without commits
	}
	g := &GitSource{Commit: commit}
	if remote, err := git("config", "--get", "remote.origin.url"); err == nil {
		g.Remote = StripCredentials(remote)
	}
	if abs, err := filepath.EvalSymlinks(dir); err == nil {
		if rel, err := filepath.Rel(top, abs); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			g.Path = filepath.ToSlash(rel)
		}
	}
	return g, true
}

// StripCredentials drops user info (user:token@) from a remote URL, so
// no secret lands in a provenance document.
func StripCredentials(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.Scheme == "" || u.Host == "" {
		if strings.Contains(remote, "://") {
			return "" // a URL it cannot parse may still hold a token
		}
		return remote // scp-like git@host:path, or a local path
	}
	if u.User != nil {
		if _, hasPass := u.User.Password(); hasPass || u.Scheme != "ssh" {
			u.User = nil
		}
	}
	return u.String()
}

// TreeDigest is a sha256 over a source tree: for each entry below dir,
// in lexical order, a line "TYPE MODE SHA256 PATH" where TYPE is f (file),
// d (directory) or l (symlink; SHA256 is then the link target's), so that
// any change of content, name, type or permission bits changes it.
// Symlinks are never followed.
func TreeDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var kind, sum string
		switch {
		case d.Type().IsRegular():
			kind = "f"
			if sum, err = fileSHA(p); err != nil {
				return err
			}
		case d.IsDir():
			kind, sum = "d", "-"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256([]byte(target))
			kind, sum = "l", hex.EncodeToString(s[:])
		default:
			return nil // sockets, devices, pipes: not source
		}
		fmt.Fprintf(h, "%s %04o %s %s\n", kind, info.Mode().Perm(), sum, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing the source tree %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fileSHA(p string) (string, error) {
	// Not through a link, and never waiting on a FIFO swapped in.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is no longer a regular file", p)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
