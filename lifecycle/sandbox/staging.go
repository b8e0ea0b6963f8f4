package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// stageRoot holds, as root, one directory of mount points per container.
// It and its parent must be searchable by every user, so that the root of
// a container's user namespace (a host uid that owns nothing) reaches them.
const stageRoot = "/run/kiln/mnt"

// bind is one bind mount the supervisor makes in its private mount
// namespace before it starts the runtime.
type bind struct {
	Source string // the host path
	Target string // the mount point under stageRoot
}

// staging is a container's directory of mount points.
type staging struct {
	dir   string
	binds []bind
}

// stage rewrites the root file system and every bind mount source of s to
// mount points in a fresh directory under stageRoot, and returns the binds
// that fill them. As root with a user namespace the runtime mounts as the
// namespace's root, which is no host uid: it cannot search a directory such
// as /root (mode 0700) on the way to the builder's root file system or the
// build's workspace. The supervisor binds each source at its mount point in
// a mount namespace of its own, where the path to it is searchable; the
// binds vanish with the supervisor, whatever ends it.
func stage(s *specs.Spec, id string) (*staging, error) {
	for _, d := range []string{filepath.Dir(stageRoot), stageRoot} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("sandbox: creating %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o711); err != nil {
			return nil, fmt.Errorf("sandbox: setting the mode of %s: %w", d, err)
		}
	}
	st := &staging{dir: filepath.Join(stageRoot, id)}
	if err := os.Mkdir(st.dir, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox: creating %s: %w", st.dir, err)
	}
	var err error
	if s.Root.Path, err = st.add(s.Root.Path, "rootfs"); err != nil {
		st.remove()
		return nil, err
	}
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if m.Type != "bind" || !filepath.IsAbs(m.Source) {
			continue
		}
		if m.Source, err = st.add(m.Source, fmt.Sprintf("m%d", i)); err != nil {
			st.remove()
			return nil, err
		}
	}
	return st, nil
}

// add makes the mount point name for src (a directory or a file, as src
// is) and returns its path.
func (st *staging) add(src, name string) (string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("sandbox: checking mount source: %w", err)
	}
	target := filepath.Join(st.dir, name)
	if fi.IsDir() {
		err = os.Mkdir(target, 0o755)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			err = f.Close()
		}
	}
	if err != nil {
		return "", fmt.Errorf("sandbox: creating mount point %s: %w", target, err)
	}
	st.binds = append(st.binds, bind{Source: src, Target: target})
	return target, nil
}

// remove deletes the mount points one by one, never recursively: were a
// bind still mounted there, rmdir would fail instead of deleting what it
// shows.
func (st *staging) remove() {
	if st == nil {
		return
	}
	for _, b := range slices.Backward(st.binds) {
		_ = unix.Rmdir(b.Target)
		_ = unix.Unlink(b.Target)
	}
	_ = unix.Rmdir(st.dir)
}

// mountBinds runs in the supervisor, in its own mount namespace: it stops
// mounts from propagating back to the host's namespace, then makes binds.
func mountBinds(binds []bind) error {
	if len(binds) == 0 {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the supervisor's mounts private: %w", err)
	}
	for _, b := range binds {
		if err := unix.Mount(b.Source, b.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("binding %s at %s: %w", b.Source, b.Target, err)
		}
	}
	return nil
}
