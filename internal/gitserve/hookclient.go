package gitserve

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/gitserve/gitref"
	"github.com/kiln-build/kiln/internal/service"
)

// RunHook is the pre-receive hook of kiln serve's repositories (`kiln
// serve-hook`): it reads git's "OLD NEW REF" lines from stdin, builds the
// pushed main branch through the serving process and writes what the
// pusher sees to stdout. It returns the exit code: non-zero rejects the
// push. getenv is os.Getenv.
func RunHook(ctx context.Context, stdin io.Reader, stdout io.Writer, getenv func(string) string) int {
	if err := runHook(ctx, stdin, stdout, getenv); err != nil {
		fmt.Fprintf(stdout, "! %v\n", err)
		fmt.Fprintln(stdout, "! push rejected")
		return 1
	}
	return 0
}

func runHook(ctx context.Context, stdin io.Reader, stdout io.Writer, getenv func(string) string) error {
	hookURL, ticket, app := getenv(envHookURL), getenv(envHookTicket), getenv(envHookApp)
	if hookURL == "" || ticket == "" {
		return errors.New("kiln serve-hook runs only as the pre-receive hook of a push to kiln serve")
	}
	maxSource, _ := strconv.ParseInt(getenv(envHookMaxSource), 10, 64)
	if maxSource <= 0 {
		maxSource = defaultMaxSourceSize
	}
	cmds, err := parseUpdates(stdin)
	if err != nil {
		return err
	}
	u, notes, err := plan(cmds)
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	if err != nil || u == nil {
		return err
	}
	fmt.Fprintf(stdout, "kiln: building %s from %s at %s\n", app, u.ref, u.new[:12])
	b, err := postBuild(ctx, hookURL, ticket, *u, maxSource, stdout)
	if err != nil {
		return err
	}
	return report(stdout, b)
}

// update is one line of a pre-receive hook's input.
type update struct{ old, new, ref string }

const maxUpdates = 10000

// parseUpdates reads git's "OLD NEW REF" lines.
func parseUpdates(r io.Reader) ([]update, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	var us []update
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || !gitref.IsObjectName(f[0]) || !gitref.IsObjectName(f[1]) || !gitref.ValidRefName(f[2]) {
			return nil, fmt.Errorf("unexpected hook input %q", sc.Text())
		}
		if len(us) == maxUpdates {
			return nil, fmt.Errorf("more than %d refs in one push", maxUpdates)
		}
		us = append(us, update{f[0], f[1], f[2]})
	}
	return us, sc.Err()
}

// plan picks what a push builds: refs/heads/main, else refs/heads/master
// — one build per push. Other branches and tags are kept without a
// build (notes say so); a deletion fails the whole push.
func plan(us []update) (*update, []string, error) {
	var build *update
	for _, want := range []string{"refs/heads/main", "refs/heads/master"} {
		if i := slices.IndexFunc(us, func(u update) bool { return u.ref == want }); i >= 0 {
			build = &us[i]
			break
		}
	}
	var notes []string
	for i, u := range us {
		if gitref.IsZero(u.new) {
			return nil, nil, fmt.Errorf("deleting %s is not allowed here", u.ref)
		}
		if &us[i] == build {
			continue
		}
		switch {
		case strings.HasPrefix(u.ref, "refs/heads/") && build != nil:
			notes = append(notes, fmt.Sprintf("kiln: %s stored, not built: one build per push (%s)", u.ref, build.ref))
		case strings.HasPrefix(u.ref, "refs/heads/"):
			b := strings.TrimPrefix(u.ref, "refs/heads/")
			notes = append(notes, fmt.Sprintf("kiln: %s stored, not built: only main (or master) builds; `git push REMOTE %s:main` builds it", u.ref, b))
		default:
			notes = append(notes, fmt.Sprintf("kiln: %s stored, not built: only a branch builds", u.ref))
		}
	}
	if build == nil {
		notes = append(notes, "kiln: nothing to build in this push")
	}
	return build, notes, nil
}

// postBuild sends the pushed tree to the serving process, copies the
// build's log to out line by line as it comes and returns the build as it
// ended.
func postBuild(ctx context.Context, hookURL, ticket string, u update, maxSource int64, out io.Writer) (service.Build, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	archived := make(chan error, 1)
	go func() {
		err := archive(ctx, u.new, maxSource, pw)
		archived <- err
		pw.CloseWithError(err)
	}()
	q := url.Values{"ref": {u.ref}, "commit": {u.new}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL+"?"+q.Encode(), pr)
	if err != nil {
		return service.Build{}, err
	}
	req.Header.Set(hdrTicket, ticket)
	req.Header.Set("Content-Type", "application/gzip")
	client := &http.Client{Transport: &http.Transport{
		Proxy:           nil, // the serving process is local
		TLSClientConfig: &tls.Config{InsecureSkipVerify: strings.HasPrefix(hookURL, "https:")},
	}}
	resp, err := client.Do(req)
	if err != nil {
		select {
		case aerr := <-archived:
			if errors.Is(aerr, errTooLarge) {
				return service.Build{}, fmt.Errorf("the source tree of %s is above the limit of %d bytes", u.new[:12], maxSource)
			} else if aerr != nil {
				return service.Build{}, aerr
			}
		default:
		}
		return service.Build{}, fmt.Errorf("sending the source to kiln serve: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return service.Build{}, fmt.Errorf("kiln serve: %s", strings.TrimSpace(string(msg)))
	}
	if err := copyLines(out, resp.Body); err != nil {
		return service.Build{}, fmt.Errorf("build %s: lost the log stream: %w", resp.Header.Get(hdrBuildID), err)
	}
	enc := resp.Trailer.Get(hdrBuild)
	if enc == "" {
		return service.Build{}, fmt.Errorf("build %s: kiln serve ended without the build's result", resp.Header.Get(hdrBuildID))
	}
	var b service.Build
	js, err := base64.RawURLEncoding.DecodeString(enc)
	if err == nil {
		err = json.Unmarshal(js, &b)
	}
	if err != nil {
		return service.Build{}, fmt.Errorf("reading the build's result: %w", err)
	}
	return b, nil
}

// archive writes the gzip-compressed tar of commit, from the repository
// the hook runs in (git's quarantine included), to w.
func archive(ctx context.Context, commit string, max int64, w io.Writer) error {
	cmd := exec.CommandContext(ctx, "git", "archive", "--format=tar", commit)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	tar, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	_, cerr := io.Copy(zw, &capped{r: tar, left: max})
	if cerr != nil {
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	switch {
	case cerr != nil:
		return cerr
	case werr != nil:
		return fmt.Errorf("git archive %s: %v: %s", commit, werr, strings.TrimSpace(stderr.String()))
	}
	return zw.Close()
}

// copyLines copies r to w a line at a time, each line written as soon as
// it is complete.
func copyLines(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			return nil
		default:
			return err
		}
	}
}

// report prints how the build ended; a build that did not succeed is an
// error (the push is rejected).
func report(out io.Writer, b service.Build) error {
	switch b.Status {
	case service.StatusSucceeded:
		ref := b.Image
		if b.Digest != "" {
			ref += "@" + b.Digest
		}
		fmt.Fprintf(out, "image %s\n", ref)
		return nil
	case service.StatusFailed:
		// The reason's details (detect's table, a stack trace) are in
		// the log above; its first line says it.
		reason, more, _ := strings.Cut(strings.TrimSpace(b.Reason), "\n")
		if strings.TrimSpace(more) != "" {
			reason += " (details above)"
		}
		return fmt.Errorf("build %d failed: phase %s, exit code %d: %s", b.ID, orUnknown(b.Phase), b.ExitCode, orUnknown(reason))
	case service.StatusCanceled:
		return fmt.Errorf("build %d was canceled", b.ID)
	case service.StatusSuperseded:
		return fmt.Errorf("build %d was superseded by a newer push", b.ID)
	}
	return fmt.Errorf("build %d ended %q", b.ID, b.Status)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
