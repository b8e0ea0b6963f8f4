package create

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kiln-build/kiln/lifecycle/archive"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// dirs are the host directories of one build.
type dirs struct {
	root, app, layers, platform, config, extraBP, tmp string
}

func workDirs(root string) dirs {
	return dirs{
		root:     root,
		app:      filepath.Join(root, "workspace"),
		layers:   filepath.Join(root, "layers"),
		platform: filepath.Join(root, "platform"),
		config:   filepath.Join(root, "config"),
		extraBP:  filepath.Join(root, "buildpacks"),
		tmp:      filepath.Join(root, "tmp"),
	}
}

// prepare creates the dirs; those the buildpacks write belong to the CNB
// user (as the host sees it: own, a uid of kiln's range as root).
func (d dirs) prepare(own *archive.Owner) error {
	if err := os.Chmod(d.root, 0o755); err != nil {
		return err
	}
	for _, p := range []string{d.app, d.layers, d.platform, filepath.Join(d.platform, "env"), d.config, d.tmp} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
	}
	if own != nil {
		for _, p := range []string{d.app, d.layers} {
			if err := os.Chown(p, own.UID, own.GID); err != nil {
				return fmt.Errorf("handing %s to the CNB user: %w", p, err)
			}
		}
	}
	return nil
}

// copySource copies the app source into the workspace, owned by the CNB
// user. Symlinks that lead outside the source tree are left out, with a
// warning.
func copySource(ctx context.Context, src, dst string, own *archive.Owner, log io.Writer) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("reading source: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("source %s is not a directory", src)
	}
	return archive.CopyDir(ctx, src, dst, archive.CopyOptions{
		Owner: own,
		OnSkip: func(p string, reason error) error {
			fmt.Fprintf(log, "warning: source: leaving out %s: %v\n", p, reason)
			return nil
		},
	})
}

// hostOwner is the CNB user as the host sees the container's files, for
// files kiln hands to the build: as root, the uid and gid that ids maps
// the CNB user to; rootless, nil (kiln's own files appear as the CNB user
// inside the container).
func hostOwner(ids *sandbox.IDRange, uid, gid int) *archive.Owner {
	if os.Geteuid() != 0 {
		return nil
	}
	return &archive.Owner{UID: ids.HostUID(uint32(uid)), GID: ids.HostGID(uint32(gid))}
}

// effectiveOrder is the builder's order, or one group of the buildpacks
// the user named. Directories are copied into extraDir, which is searched
// before the builder's /cnb/buildpacks.
func effectiveOrder(b *builder.Builder, requested []string, extraDir string) (descriptor.Order, bool, error) {
	if len(requested) == 0 {
		return b.Order, false, nil
	}
	lookup := descriptor.NewLookup(b.BuildpacksDir())
	var g descriptor.Group
	extra := false
	for _, r := range requested {
		if fi, err := os.Stat(r); err == nil && fi.IsDir() {
			bp, err := descriptor.ReadBuildpack(r)
			if err != nil {
				return nil, false, fmt.Errorf("--buildpack %s: %w", r, err)
			}
			dst := filepath.Join(extraDir, descriptor.EscapeID(bp.Buildpack.ID), bp.Buildpack.Version)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return nil, false, err
			}
			if err := archive.CopyDir(context.Background(), r, dst, archive.CopyOptions{}); err != nil {
				return nil, false, fmt.Errorf("--buildpack %s: %w", r, err)
			}
			g.Group = append(g.Group, descriptor.GroupEntry{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version})
			extra = true
			continue
		}
		id, version, _ := strings.Cut(r, "@")
		bp, err := lookup.Find(id, version)
		if err != nil {
			return nil, false, fmt.Errorf("--buildpack %s: not a directory, and the builder has no such buildpack: %w", r, err)
		}
		g.Group = append(g.Group, descriptor.GroupEntry{ID: bp.Buildpack.ID, Version: bp.Buildpack.Version})
	}
	return descriptor.Order{g}, extra, nil
}

// containerBase holds what every phase container shares.
type containerBase struct {
	runtime  string
	rootfs   string
	uid, gid int
	env      []string
	mounts   []sandbox.Mount
	caBundle string
	out      io.Writer
	tempDir  string
	ids      *sandbox.IDRange
	Isolation
	warnOnce *sync.Once
}

// phase runs `kiln phase <name> args...` in the build container. A
// non-zero exit becomes the phase's failure, with the message the phase
// left in errFile and its exit code kept within the phase's band.
func (c containerBase) phase(ctx context.Context, name string, args []string, out buildOutput, errFile string) error {
	code, err := c.run(ctx, append([]string{KilnBinPath, "phase", name}, args...))
	if err != nil {
		return failure.New(name, failure.SandboxUnavailable, err)
	}
	if code == 0 {
		return nil
	}
	msg := fmt.Sprintf("the %s phase failed with exit code %d (see the output above)", name, code)
	if s := out.errorText(errFile); s != "" {
		msg = s
	}
	switch {
	case name == "detect" && code != failure.DetectNoGroup && code != failure.DetectError:
		code = failure.DetectError
	case name == "build" && code != failure.BuildpackFailed:
		code = failure.BuildError
	}
	return failure.New(name, code, errors.New(msg))
}

func (c containerBase) run(ctx context.Context, args []string) (int, error) {
	return sandbox.Run(ctx, sandbox.Config{
		Runtime:  c.runtime,
		RootFS:   c.rootfs,
		Mounts:   c.mounts,
		Env:      c.env,
		Args:     args,
		Cwd:      AppPath,
		UID:      uint32(c.uid),
		GID:      uint32(c.gid),
		Stdout:   c.out,
		Stderr:   c.out,
		CABundle: c.caBundle,
		TempDir:  c.tempDir,
		IDs:      c.ids,
		Network:  c.Network,
		Limits:   c.Limits,
		Warn: func(notice string) {
			c.warnOnce.Do(func() { fmt.Fprintf(c.out, "warning: %s\n", notice) })
		},
	})
}
