package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// makeMountPoints creates the mount points that s's root file system lacks:
// a directory, or an empty file for a bind mount of a file. The runtime
// would create them itself, but in the container's user namespace its root
// may not write to a root file system that the host's root owns. Mount
// points inside an earlier mount (/dev/pts in /dev) are the runtime's to
// make. Paths are resolved inside the root file system; one that leads out
// of it through a symbolic link is left to the runtime.
func makeMountPoints(s *specs.Spec) error {
	root, err := os.OpenRoot(s.Root.Path)
	if err != nil {
		return fmt.Errorf("sandbox: opening the root file system: %w", err)
	}
	defer root.Close()
	var done []string
	for _, m := range s.Mounts {
		dst := path.Clean(m.Destination)
		inside := insideAny(dst, done)
		done = append(done, dst)
		if inside {
			continue
		}
		rel := strings.TrimPrefix(dst, "/")
		if _, err := root.Lstat(rel); !errors.Is(err, fs.ErrNotExist) {
			continue // there, or not ours to make
		}
		if err := makeMountPoint(root, rel, isFileBind(m)); err != nil {
			return fmt.Errorf("sandbox: creating mount point %s in the root file system: %w", dst, err)
		}
	}
	return nil
}

func makeMountPoint(root *os.Root, rel string, file bool) error {
	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if !file {
		if err := root.Mkdir(rel, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return nil
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// insideAny reports whether p lies strictly below one of dirs.
func insideAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if d == "/" || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func isFileBind(m specs.Mount) bool {
	if m.Type != "bind" {
		return false
	}
	fi, err := os.Stat(m.Source)
	return err == nil && !fi.IsDir()
}
