package debian

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ToolError reports a failed mmdebstrap run. Key and Value name the recipe
// entry the tool's output blames, when it can be told.
type ToolError struct {
	Key   string   // recipe key at fault ("packages", "suite", "mirror", "sources"), or ""
	Value string   // the entry's value, such as the package name
	Tail  []string // the last lines the tool printed
	Err   error    // how the process ended
}

func (e *ToolError) Error() string {
	var b strings.Builder
	b.WriteString("mmdebstrap failed")
	if e.Key != "" {
		fmt.Fprintf(&b, ": recipe %s: %q", e.Key, e.Value)
		switch e.Key {
		case "packages":
			b.WriteString(" is not a package apt can install from this mirror and suite")
		case "suite":
			b.WriteString(" is not a suite on this mirror")
		case "mirror", "sources":
			b.WriteString(" could not be reached")
		}
	}
	fmt.Fprintf(&b, " (%v)", e.Err)
	if len(e.Tail) > 0 {
		b.WriteString("; last output:\n  ")
		b.WriteString(strings.Join(e.Tail, "\n  "))
	}
	return b.String()
}

func (e *ToolError) Unwrap() error { return e.Err }

// mmdebstrapArgs returns the command line that builds r into a tar at out.
func mmdebstrapArgs(r Recipe, out, mode string) []string {
	args := []string{
		"--mode=" + mode,
		"--format=tar",
		"--variant=" + r.Variant,
		"--architectures=" + r.Arch,
		"--components=" + strings.Join(r.Components, ","),
	}
	if len(r.Packages) > 0 {
		args = append(args, "--include="+strings.Join(r.Packages, ","))
	}
	args = append(args, "--", r.Suite, out, r.Mirror)
	return append(args, r.Sources...)
}

// tailLines keeps the last n lines written to it.
type tailLines struct {
	mu    sync.Mutex
	n     int
	lines []string
	part  []byte
}

func (t *tailLines) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.push(string(bytes.TrimRight(t.part[:i], "\r")))
		t.part = t.part[i+1:]
	}
	return len(p), nil
}

func (t *tailLines) push(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

func (t *tailLines) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.lines...)
	if len(t.part) > 0 {
		out = append(out, string(t.part))
	}
	if len(out) > t.n {
		out = out[len(out)-t.n:]
	}
	return out
}

// runMmdebstrap builds r into the tar file out, streaming the tool's
// output to log. sde is passed as SOURCE_DATE_EPOCH.
func runMmdebstrap(ctx context.Context, program string, r Recipe, out string, sde int64, log io.Writer) error {
	bin, err := exec.LookPath(program)
	if err != nil {
		return fmt.Errorf("finding %s: %w (install the Debian package mmdebstrap)", program, err)
	}
	mode := "unshare"
	if os.Geteuid() == 0 {
		mode = "root"
	}
	args := mmdebstrapArgs(r, out, mode)
	fmt.Fprintf(log, "kiln: running %s %s\n", program, strings.Join(args, " "))

	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(withoutEnv(os.Environ(), "SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH="+strconv.FormatInt(sde, 10))
	// On cancellation ask mmdebstrap to stop, so that it unmounts what it
	// mounted inside its chroot and removes its temporary directory.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	tail := &tailLines{n: 15}
	w := io.MultiWriter(log, tail)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("running mmdebstrap for suite %s: %w", r.Suite, ctxErr)
		}
		te := &ToolError{Tail: tail.Lines(), Err: err}
		te.Key, te.Value = blame(r, te.Tail)
		return te
	}
	return nil
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

var (
	missingPackage = []*regexp.Regexp{
		regexp.MustCompile(`^E: Unable to locate package (\S+)`),
		regexp.MustCompile(`^E: Package '([^']+)' has no installation candidate`),
		regexp.MustCompile(`^E: Couldn't find any package by (?:glob|regex) '([^']+)'`),
		regexp.MustCompile(`^E: Version '[^']+' for '([^']+)' was not found`),
		regexp.MustCompile(`^E: Release '[^']+' for '([^']+)' was not found`),
	}
	missingRelease = regexp.MustCompile(`^E: The repository '(\S+) (\S+) Release' does not have a Release file`)
	unreachable    = regexp.MustCompile(`(?:Could not resolve|Could not connect to|Failed to fetch) '?(\S+?)'?(?:[\s:]|$)`)
)

// blame finds the recipe entry that mmdebstrap's output points at.
func blame(r Recipe, lines []string) (key, value string) {
	for _, line := range lines {
		for _, re := range missingPackage {
			if m := re.FindStringSubmatch(line); m != nil {
				return "packages", m[1]
			}
		}
		if m := missingRelease.FindStringSubmatch(line); m != nil {
			if strings.TrimRight(m[1], "/") == strings.TrimRight(r.Mirror, "/") && m[2] == r.Suite {
				return "suite", r.Suite
			}
			for _, s := range r.Sources {
				if strings.Contains(s, m[1]) {
					return "sources", s
				}
			}
			return "suite", r.Suite
		}
	}
	for _, line := range lines {
		if m := unreachable.FindStringSubmatch(line); m != nil {
			for _, s := range r.Sources {
				if host := hostOf(m[1]); host != "" && strings.Contains(s, host) {
					return "sources", s
				}
			}
			return "mirror", r.Mirror
		}
	}
	return "", ""
}

// hostOf returns the host part of a URL or host name.
func hostOf(s string) string {
	if _, rest, ok := strings.Cut(s, "://"); ok {
		s = rest
	}
	host, _, _ := strings.Cut(s, "/")
	return host
}

// errNoTar is returned when mmdebstrap succeeded but left no tarball.
var errNoTar = errors.New("mmdebstrap reported success but wrote no tarball")
