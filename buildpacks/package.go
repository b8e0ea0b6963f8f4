package buildpacks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
)

// modulePath is the Go module the buildpacks' sources belong to.
const modulePath = "github.com/kiln-build/kiln"

// Option adjusts Package.
type Option func(*options)

type options struct {
	sourceDir string
	goBin     string
	goarch    string
	log       io.Writer
}

// WithSourceDir names the root of the kiln module (the directory holding
// go.mod); by default it is found from the working directory with `go env
// GOMOD`.
func WithSourceDir(dir string) Option { return func(o *options) { o.sourceDir = dir } }

// WithGo names the go command to compile with (default: "go" on PATH).
func WithGo(path string) Option { return func(o *options) { o.goBin = path } }

// WithArch sets the GOARCH of the binaries (default amd64, the
// architecture the buildpack.toml files declare).
func WithArch(goarch string) Option { return func(o *options) { o.goarch = goarch } }

// WithLog sends the compiler's output to w (default: discarded unless the
// build fails, when it is part of the error).
func WithLog(w io.Writer) Option { return func(o *options) { o.log = w } }

// Package compiles every buildpack into dir/<name>/: buildpack.toml,
// bin/build (static, CGO_ENABLED=0, reproducible: -trimpath, no build
// ID) and bin/detect, a symlink to build. The static buildpack also gets
// bin/static-server, its file server; the Node.js, Python and Procfile
// buildpacks get bin/kiln-exec, which runs shell-style command lines in run images
// without a shell. Existing directories of the same names are replaced.
func Package(ctx context.Context, dir string, opts ...Option) error {
	o := options{goBin: "go", goarch: "amd64"}
	for _, f := range opts {
		f(&o)
	}
	src, err := o.source(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	out, err := os.MkdirTemp(dir, ".compile-")
	if err != nil {
		return fmt.Errorf("creating a build directory in %s: %w", dir, err)
	}
	defer os.RemoveAll(out)

	// one go build for all: the packages share the compile work
	pkgs := []string{}
	for _, n := range Names {
		pkgs = append(pkgs, "./buildpacks/"+n)
	}
	pkgs = append(pkgs, "./buildpacks/static/server", "./buildpacks/cmd/kiln-exec")
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, o.goBin, args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.goarch)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if o.log != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, o.log), io.MultiWriter(&buf, o.log)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("compiling the buildpacks in %s: %w\n%s", src, err, buf.Bytes())
	}

	for _, n := range Names {
		final := filepath.Join(dir, n)
		stage := filepath.Join(out, "bp-"+n)
		if err := os.MkdirAll(filepath.Join(stage, "bin"), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", stage, err)
		}
		if err := fsutil.CopyFile(filepath.Join(src, "buildpacks", n, "buildpack.toml"), filepath.Join(stage, "buildpack.toml"), 0o644); err != nil {
			return err
		}
		if err := retarget(filepath.Join(stage, "buildpack.toml"), o.goarch); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(out, n), filepath.Join(stage, "bin", "build")); err != nil {
			return fmt.Errorf("placing the %s buildpack binary: %w", n, err)
		}
		if err := os.Chmod(filepath.Join(stage, "bin", "build"), 0o755); err != nil {
			return fmt.Errorf("making %s's bin/build executable: %w", n, err)
		}
		if err := os.Symlink("build", filepath.Join(stage, "bin", "detect")); err != nil {
			return fmt.Errorf("linking %s's bin/detect: %w", n, err)
		}
		switch n {
		case "static":
			if err := os.Rename(filepath.Join(out, "server"), filepath.Join(stage, "bin", "static-server")); err != nil {
				return fmt.Errorf("placing the static file server: %w", err)
			}
		case "nodejs", "procfile", "python":
			// each may need to run shell-style command lines in run
			// images without a shell
			if err := fsutil.CopyFile(filepath.Join(out, "kiln-exec"), filepath.Join(stage, "bin", "kiln-exec"), 0o755); err != nil {
				return err
			}
		}
		if err := os.RemoveAll(final); err != nil {
			return fmt.Errorf("removing the old %s: %w", final, err)
		}
		if err := os.Rename(stage, final); err != nil {
			return fmt.Errorf("moving %s into place: %w", final, err)
		}
	}
	return nil
}

// source finds the module root.
func (o options) source(ctx context.Context) (string, error) {
	dir := o.sourceDir
	if dir == "" {
		cmd := exec.CommandContext(ctx, o.goBin, "env", "GOMOD")
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("finding the kiln module with `go env GOMOD`: %w", err)
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			return "", errors.New("the working directory is not inside the kiln module; run from the repository or use WithSourceDir")
		}
		dir = filepath.Dir(gomod)
	}
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("reading the kiln module's go.mod: %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	if strings.TrimSpace(first) != "module "+modulePath {
		return "", fmt.Errorf("%s is not the %s module", filepath.Join(dir, "go.mod"), modulePath)
	}
	return dir, nil
}

// retarget makes a buildpack.toml compiled for goarch declare that
// architecture in its [[targets]] (the sources declare amd64).
func retarget(p, goarch string) error {
	if goarch == "amd64" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	b = bytes.ReplaceAll(b, []byte(`arch = "amd64"`), []byte(`arch = "`+goarch+`"`))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}
