package runner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/extract"
)

func tarOf(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range entries {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func TestCheckAndExtract(t *testing.T) {
	good := tarOf(t, map[string]string{"app/Procfile": "web: x\n"})
	if err := CheckTarball(good); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "src")
	if err := Extract(context.Background(), good, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "app", "Procfile")); err != nil || string(b) != "web: x\n" {
		t.Errorf("extracted %q %v", b, err)
	}
	for name, data := range map[string][]byte{
		"escaping": tarOf(t, map[string]string{"../evil": "x"}),
		"absolute": tarOf(t, map[string]string{"/etc/evil": "x"}),
		"garbage":  []byte("definitely not a tar stream, nor a gzip one"),
		"empty":    make([]byte, 1024),
		"bad gzip": {0x1f, 0x8b, 0, 0},
	} {
		if err := CheckTarball(data); err == nil {
			t.Errorf("%s: CheckTarball passed", name)
		}
	}
	// The extractor refuses an escaping entry even when not checked first.
	out := t.TempDir()
	if err := Extract(context.Background(), tarOf(t, map[string]string{"../evil": "x"}), filepath.Join(out, "src")); err == nil {
		t.Error("extracted an entry leaving the dir")
	}
	if _, err := os.Stat(filepath.Join(out, "evil")); err == nil {
		t.Error("the escaping entry was written")
	}
}

// bombTar is a tar stream whose headers claim sizes: each entry gets at
// most 1 MiB of real content, the stream ends after the last header's
// (the rest of a bomb's bytes would be zeros compressing to nothing).
func bombTar(t *testing.T, gz bool, sizes ...int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	zw := gzip.NewWriter(&buf)
	if gz {
		w = zw
	}
	tw := tar.NewWriter(w)
	for i, size := range sizes {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(make([]byte, min(size, 1<<20)))
	}
	tw.Flush()
	zw.Close()
	return buf.Bytes()
}

// TestCheckTarballBounds: a stream whose entries add up to more than
// MaxSourceBytes is refused by its headers, before the contents are read
// (a small gzip stream could unpack to hundreds of GiB), whether one
// entry claims it all or several add up to it.
func TestCheckTarballBounds(t *testing.T) {
	for name, data := range map[string][]byte{
		"one entry":       bombTar(t, false, MaxSourceBytes+1),
		"one entry, gzip": bombTar(t, true, MaxSourceBytes+1),
		"entries add up":  bombTar(t, true, 1<<20, 1<<20, MaxSourceBytes-(2<<20)+1),
		"huge size":       bombTar(t, true, 1<<62),
	} {
		if err := CheckTarball(data); !errors.Is(err, extract.ErrTooLarge) {
			t.Errorf("%s: CheckTarball = %v, want ErrTooLarge", name, err)
		}
	}
	if err := CheckTarball(tarOf(t, map[string]string{"a": "x"})); err != nil {
		t.Errorf("a small tarball: %v", err)
	}
}

func TestClone(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not installed (make deps installs it): %v", err)
	}
	repo := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "a.txt"), []byte("one"), 0o644)
	git("add", ".")
	git("commit", "-q", "-m", "one")
	first := git("rev-parse", "HEAD")
	os.WriteFile(filepath.Join(repo, "a.txt"), []byte("two"), 0o644)
	git("commit", "-q", "-am", "two")
	second := git("rev-parse", "HEAD")
	var log bytes.Buffer
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "src")
	head, err := Clone(ctx, CloneOptions{URL: "file://" + repo, Ref: "main"}, dir, &log)
	if err != nil || head != second {
		t.Fatalf("Clone(main) = %s %v\n%s", head, err, log.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "two" {
		t.Errorf("a.txt = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		t.Error(".git was left")
	}
	git("config", "uploadpack.allowAnySHA1InWant", "true")
	dir2 := filepath.Join(t.TempDir(), "src")
	if head, err := Clone(ctx, CloneOptions{URL: "file://" + repo, Ref: "main", Commit: first}, dir2, &log); err != nil || head != first {
		t.Fatalf("Clone(first) = %s %v\n%s", head, err, log.String())
	}
	if _, err := Clone(ctx, CloneOptions{URL: "--upload-pack=evil", Ref: "main"}, filepath.Join(t.TempDir(), "x"), &log); err == nil {
		t.Error("an option as URL was run")
	}
	if _, err := Clone(ctx, CloneOptions{URL: "file://" + repo, Ref: "main", Commit: "0123456789abcdef0123456789abcdef01234567"}, filepath.Join(t.TempDir(), "y"), &log); err == nil {
		t.Error("a commit that is not the ref's head was built")
	}
}

// fakeKiln writes a script standing in for kiln: it records its
// arguments, prints a line, then follows MODE: ok writes a success report;
// fail a failure report and exits 51; wait waits for SIGINT, writes an
// interrupted report and exits 130; none exits 3 without a report.
func fakeKiln(t *testing.T, mode string) (bin, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	script := `#!/bin/bash
printf '%s\n' "$@" > ` + argsFile + `
report=""; prev=""
for a in "$@"; do [ "$prev" = --report ] && report="$a"; prev="$a"; done
echo "===> DETECTING"
case ` + mode + ` in
ok) echo '{"image":"r.test/a:latest","digest":"sha256:11","exit_code":0,"phases":[{"name":"detect","started":"2024-01-01T00:00:00Z","duration_ns":5}]}' > "$report" ;;
fail) echo '{"phase":"build","exit_code":51,"message":"buildpack failed","phases":[]}' > "$report"; exit 51 ;;
wait) trap 'echo "{\"phase\":\"build\",\"exit_code\":130,\"message\":\"stopped\",\"phases\":[]}" > "$report"; exit 130' INT
      echo waiting; while :; do sleep 0.05; done ;;
none) exit 3 ;;
esac
`
	bin = filepath.Join(dir, "kiln")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

func TestKilnBuild(t *testing.T) {
	ctx := context.Background()
	spec := Spec{Dir: "/src", Image: "r.test/a:latest", CacheImage: "r.test/a:cache", Builder: "r.test/b",
		RunImageRepo: "r.test/kiln/run", Env: map[string]string{"SECRET": "s3"}, Timeout: time.Minute, SignKey: "/keys/a.key"}

	bin, argsFile := fakeKiln(t, "ok")
	var log bytes.Buffer
	rep, err := Kiln{Binary: bin}.Build(ctx, spec, &log)
	if err != nil || rep.ExitCode != 0 || rep.Digest != "sha256:11" || len(rep.Phases) != 1 || rep.Phases[0].Duration != 5 {
		t.Fatalf("ok: %+v %v", rep, err)
	}
	args, _ := os.ReadFile(argsFile)
	for _, want := range []string{"build\nr.test/a:latest\n", "--publish\n", "--cache-image\nr.test/a:cache\n", "--builder\nr.test/b\n",
		"--run-image-repo\nr.test/kiln/run\n", "--timeout\n1m0s\n", "--env-file\n", "--path\n/src\n",
		"--sign-key\n/keys/a.key\n", "--no-project-builder\n", "--untrusted-source\n"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if strings.Contains(string(args), "s3") {
		t.Error("a secret env value is on the command line")
	}
	if !strings.Contains(log.String(), "===> DETECTING") {
		t.Errorf("log %q", log.String())
	}

	// A rebase runs kiln rebase, with only what a rebase takes.
	rs := spec
	rs.Rebase = true
	k := Kiln{Binary: bin, Args: []string{"--runtime", "runsc"}}
	if rep, err := k.Build(ctx, rs, &log); err != nil || rep.ExitCode != 0 || rep.Digest != "sha256:11" {
		t.Fatalf("rebase: %+v %v", rep, err)
	}
	args, _ = os.ReadFile(argsFile)
	if got := strings.Fields(string(args)); len(got) != 7 || got[0] != "rebase" || got[1] != "r.test/a:latest" || got[2] != "--publish" ||
		got[3] != "--report" || got[5] != "--sign-key" || got[6] != "/keys/a.key" {
		t.Errorf("rebase args %q", got)
	}

	bin, _ = fakeKiln(t, "fail")
	if rep, err := (Kiln{Binary: bin}).Build(ctx, spec, &log); err != nil || rep.ExitCode != 51 || rep.Phase != "build" || rep.Message != "buildpack failed" {
		t.Errorf("fail: %+v %v", rep, err)
	}
	bin, _ = fakeKiln(t, "none")
	if _, err := (Kiln{Binary: bin}).Build(ctx, spec, &log); err == nil || !strings.Contains(err.Error(), "exited 3 without a report") {
		t.Errorf("none: %v", err)
	}

	// Cancel: SIGINT, and kiln's own exit.
	bin, _ = fakeKiln(t, "wait")
	cctx, cancel := context.WithCancel(ctx)
	var wlog syncBuffer
	go func() {
		for !strings.Contains(wlog.String(), "waiting") {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	rep, err = Kiln{Binary: bin, Grace: 10 * time.Second}.Build(cctx, spec, &wlog)
	if err != nil || rep.ExitCode != 130 || time.Since(start) > 5*time.Second {
		t.Errorf("cancel: %+v %v after %s", rep, err, time.Since(start))
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
