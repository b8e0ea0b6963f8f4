package create

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// reservedPaths are the container paths a volume may not cover or sit
// beneath: what the build writes to the image and cache, kiln's and the
// builder's own files, and the kernel's.
var reservedPaths = []string{AppPath, LayersPath, "/cnb", "/kiln", "/proc", "/sys", "/dev", "/tmp"}

// CheckVolume checks a volume for the build containers: its source must
// exist on the host; its destination must be absolute and clean, and
// neither cover nor sit beneath /workspace, /layers, /cnb, /kiln, the
// kernel's file systems or /tmp, nor be the platform directory or its env
// (a service binding under /platform/bindings is fine). So nothing of a
// volume enters the image, except what a buildpack copies out of it.
func CheckVolume(v sandbox.Mount) error {
	d := v.Destination
	if !path.IsAbs(d) || path.Clean(d) != d || d == "/" {
		return fmt.Errorf("volume %s: the target %q must be an absolute, clean path other than /", v.Source, d)
	}
	for _, r := range append(reservedPaths, PlatformPath, PlatformPath+"/env") {
		if d == r || strings.HasPrefix(r, d+"/") {
			return fmt.Errorf("volume %s: the target %s would cover %s", v.Source, d, r)
		}
	}
	for _, r := range append(reservedPaths, PlatformPath+"/env") {
		if strings.HasPrefix(d, r+"/") {
			return fmt.Errorf("volume %s: the target %s is inside %s, which kiln manages", v.Source, d, r)
		}
	}
	if _, err := os.Stat(v.Source); err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	return nil
}

// prepareVolume checks v and makes its mount point: under the platform
// directory (a service binding) it is created there, owned by the build's
// user; elsewhere it must already be in the builder's root file system,
// which is shared between builds and never written.
func prepareVolume(v sandbox.Mount, platform, rootfs string, own *archive.Owner) error {
	if err := CheckVolume(v); err != nil {
		return err
	}
	fi, err := os.Stat(v.Source)
	if err != nil {
		return fmt.Errorf("volume: %w", err)
	}
	if rel, ok := strings.CutPrefix(v.Destination, PlatformPath+"/"); ok {
		return makeMountPoint(platform, rel, fi.IsDir(), own)
	}
	st, err := os.Lstat(filepath.Join(rootfs, filepath.FromSlash(v.Destination)))
	if err != nil || st.IsDir() != fi.IsDir() || st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("volume %s: the builder has no %s %s to mount it on; mount it under %s/bindings or on one the builder has",
			v.Source, map[bool]string{true: "directory", false: "file"}[fi.IsDir()], v.Destination, PlatformPath)
	}
	return nil
}

// makeMountPoint creates rel (a directory, else an empty file) and its
// parents under root, owned by own.
func makeMountPoint(root, rel string, dir bool, own *archive.Owner) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		last := i == len(parts)-1
		if last && !dir {
			f, err := r.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("volume mount point %s: %w", p, err)
			}
			f.Close()
		} else if err := r.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("volume mount point %s: %w", p, err)
		}
		if own != nil {
			if err := r.Lchown(p, own.UID, own.GID); err != nil {
				return fmt.Errorf("volume mount point %s: %w", p, err)
			}
		}
	}
	return nil
}
