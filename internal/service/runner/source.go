package runner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/extract"
)

// Limits on what one source tarball unpacks to.
const (
	MaxSourceBytes   = 4 << 30
	MaxSourceEntries = 200_000
)

// tarReader returns the tar stream in data, gunzipped when it is gzip.
func tarReader(data []byte) (io.Reader, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("reading the gzip stream: %w", err)
		}
		return zr, nil
	}
	return bytes.NewReader(data), nil
}

// CheckTarball reports whether data is a tar stream (optionally gzip) of
// at least one entry, with safe names, reading its headers only. A stream
// past MaxSourceEntries or MaxSourceBytes (by its headers, before their
// contents are read: a small gzip stream may unpack to far more) is
// extract.ErrTooLarge.
func CheckTarball(data []byte) error {
	r, err := tarReader(data)
	if err != nil {
		return err
	}
	tr := tar.NewReader(r)
	n, size := 0, int64(0)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the tar stream: %w", err)
		}
		if _, err := extract.CleanRel(h.Name); err != nil {
			return err
		}
		if n++; n > MaxSourceEntries {
			return fmt.Errorf("more than %d entries: %w", MaxSourceEntries, extract.ErrTooLarge)
		}
		if size += max(h.Size, 0); size > MaxSourceBytes {
			return fmt.Errorf("more than %d bytes unpacked: %w", int64(MaxSourceBytes), extract.ErrTooLarge)
		}
	}
	if n == 0 {
		return errors.New("the tar stream is empty")
	}
	return nil
}

// Extract unpacks the source tarball data into dir with the safe
// extractor: no entry leaves dir, no special files, bounded size.
func Extract(ctx context.Context, data []byte, dir string) error {
	r, err := tarReader(data)
	if err != nil {
		return err
	}
	err = extract.Extract(ctx, r, dir, extract.Options{
		MaxBytes: MaxSourceBytes, MaxEntries: MaxSourceEntries,
		OnSkip: func(string, error) error { return nil },
	})
	if err != nil {
		return fmt.Errorf("unpacking the source: %w", err)
	}
	return nil
}

// CloneOptions say what Clone fetches and how.
type CloneOptions struct {
	// URL, Ref and Commit name what to fetch: commit, or when it is
	// empty, ref's head. URL holds no credentials (SplitGitURL).
	URL, Ref, Commit string
	// Credentials reach git through a credential helper that reads them
	// from git's environment: never on a command line, in a file or in
	// the log.
	Credentials Credentials
	// Pin, when set, is the one address git connects to for an http(s)
	// or git:// URL's host (checked by CheckGitHost), so a second lookup
	// cannot lead elsewhere; redirects are not followed either way.
	Pin netip.Addr
	// MaxBytes and MaxEntries bound what the clone writes (default
	// MaxSourceBytes and MaxSourceEntries, as for a tarball): the fetched
	// .git is watched while it grows, and the commit's tree is counted
	// before it is checked out. Past either, Clone fails with an error
	// wrapping extract.ErrTooLarge.
	MaxBytes   int64
	MaxEntries int
}

// Clone fetches o's commit into dir, shallow, checks it out and removes
// .git. It returns the commit checked out.
func Clone(ctx context.Context, o CloneOptions, dir string, log io.Writer) (string, error) {
	url, ref, commit := pinGitURL(o.URL, o.Pin), o.Ref, o.Commit
	if strings.HasPrefix(url, "-") || strings.HasPrefix(ref, "-") || strings.HasPrefix(commit, "-") {
		return "", errors.New("git: a URL, ref or commit may not start with '-'")
	}
	env := cloneEnv(o)
	lim := o.limits()
	ctx, stop := watchGitDir(ctx, dir, lim.bytes, 250*time.Millisecond)
	defer stop()
	tooLarge := func(err error) error {
		if c := context.Cause(ctx); errors.Is(c, extract.ErrTooLarge) {
			return c
		}
		return err
	}
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("git %s: %w", args[0], err)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := git("init", "-q"); err != nil {
		return "", err
	}
	want := commit
	if want == "" {
		want = ref
	}
	if want == "" {
		want = "HEAD"
	}
	err := git("fetch", "-q", "--depth", "1", "--", url, want)
	if err != nil && commit != "" && ref != "" {
		// A server that refuses fetching a commit by id: fetch the ref
		// and check the commit is its head.
		fmt.Fprintf(log, "fetching %s by id failed; fetching %s\n", commit, ref)
		err = git("fetch", "-q", "--depth", "1", "--", url, ref)
	}
	if err != nil {
		return "", tooLarge(err)
	}
	if err := checkTreeSize(ctx, dir, "FETCH_HEAD", env, lim); err != nil {
		return "", tooLarge(err)
	}
	if err := git("checkout", "-q", "FETCH_HEAD"); err != nil {
		return "", tooLarge(err)
	}
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("git rev-parse: %w", err)
	}
	head := strings.TrimSpace(string(out))
	if commit != "" && !strings.HasPrefix(head, commit) {
		return "", fmt.Errorf("git: %s of %s is at %s, not at commit %s", ref, url, head, commit)
	}
	return head, os.RemoveAll(filepath.Join(dir, ".git"))
}

// credentialHelper answers git's "get" with the user name and password
// from its environment.
const credentialHelper = `!f() { test "$1" = get || exit 0; printf 'username=%s\npassword=%s\n' "$KILN_GIT_USERNAME" "$KILN_GIT_PASSWORD"; }; f`

// cloneEnv is git's environment for a clone: no system, global or
// prompted configuration, no redirects, o's credentials through a
// helper, and the pinned address.
func cloneEnv(o CloneOptions) []string {
	env := append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "SSH_ASKPASS=/bin/false",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	cfg := [][2]string{{"http.followRedirects", "false"}, {"credential.helper", ""}}
	if !o.Credentials.Empty() {
		cfg = append(cfg, [2]string{"credential.helper", credentialHelper})
		env = append(env, "KILN_GIT_USERNAME="+o.Credentials.Username, "KILN_GIT_PASSWORD="+o.Credentials.Password)
	}
	if o.Pin.IsValid() {
		if r, ok := curlResolve(o.URL, o.Pin); ok {
			cfg = append(cfg, [2]string{"http.curloptResolve", r})
		}
	}
	env = append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(cfg)))
	for i, kv := range cfg {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env
}
