package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultRuntime is the OCI runtime used when Config.Runtime is empty.
const DefaultRuntime = "runc"

// DefaultHostname is the container's hostname when Config.Hostname is empty.
const DefaultHostname = "kiln"

// DefaultPath is the PATH given to the process when Config.Env has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Mount is a bind mount of a host path into the container.
type Mount struct {
	// Source is the host path (file or directory).
	Source string
	// Destination is the absolute path inside the container.
	Destination string
	// ReadOnly mounts it read-only; otherwise the process may write to it.
	ReadOnly bool
}

// Config describes one process to run in a container.
type Config struct {
	// Runtime is the runc-compatible CLI to use, a name looked up in PATH
	// or a path; empty means DefaultRuntime.
	Runtime string

	// RootFS is the host directory mounted read-only as the container's
	// "/". The runtime creates missing mount points inside it, so it must
	// either hold them or be writable by the caller.
	RootFS string

	// Args is the command line; Args[0] is looked up in the container's
	// PATH when it is not absolute.
	Args []string
	// Env is the process environment as KEY=value pairs. PATH defaults to
	// DefaultPath; with a CABundle, the variables in CAEnv default to
	// CABundlePath.
	Env []string
	// Cwd is the working directory inside the container; empty means "/".
	Cwd string

	// UID and GID the process runs as (the builder's CNB_USER_ID and
	// CNB_GROUP_ID). Rootless, the host's effective uid and gid appear as
	// these inside.
	UID, GID uint32
	// AdditionalGIDs are supplementary groups. Rootless they are mapped
	// from the caller's subordinate gid range, so they grant nothing on the
	// host.
	AdditionalGIDs []uint32

	// Mounts are bind mounts; only those not ReadOnly are writable. A mount
	// whose Destination equals a built-in one (/tmp, /etc/hosts, ...)
	// replaces it.
	Mounts []Mount

	// Hostname of the container; empty means DefaultHostname.
	Hostname string

	// Network is the container's network: NetworkSlirp (the default when
	// empty) gives it its own network namespace with outbound access only
	// through slirp4netns, NetworkNone one with only loopback, and
	// NetworkHost the host's network, /etc/resolv.conf and /etc/hosts.
	Network string

	// CABundle is a host file of PEM certificates (see CABundle and
	// HostCABundle). When set, it is mounted read-only at CABundlePath and
	// SystemCABundlePath and the variables in CAEnv point at it.
	CABundle string

	// IDs is the block of host ids behind the container's user namespace
	// when kiln runs as root (see IDRange): a build reserves one with
	// ReserveIDs and passes it to each of its runs; nil makes Run reserve
	// one for this run alone. Rootless runs ignore it: they map the
	// caller's own ids.
	IDs *IDRange `json:"-"`

	// Limits are the container's pids, memory and CPU limits; zero fields
	// take their defaults (see DefaultLimits). They need root: rootless,
	// Run applies none and says so through Warn.
	Limits

	// Warn, when set, is told about protections Run could not apply, once
	// per run (rootless: no cgroup limits).
	Warn func(notice string) `json:"-"`

	// NoSeccomp turns the seccomp filter off. It exists for tests of the
	// sandbox; buildpack code always runs with the filter.
	NoSeccomp bool

	// Stdin feeds the process; nil means /dev/null.
	Stdin io.Reader
	// Stdout and Stderr receive the process's output as it is written; nil
	// discards it. The runtime's own error messages may also appear on
	// Stderr. If both are the same writer, writes to it are serialised.
	Stdout, Stderr io.Writer

	// StateDir is the runtime's state directory (its --root). Empty means
	// /run/kiln/runc as root, $XDG_RUNTIME_DIR/kiln/runc rootless, or a
	// private temporary directory removed after the run when
	// XDG_RUNTIME_DIR is unset.
	StateDir string
	// TempDir is where the bundle directory is created; empty means
	// os.TempDir().
	TempDir string
}

// validate checks what can be checked without touching the runtime.
func (c *Config) validate() error {
	if c.RootFS == "" {
		return errors.New("sandbox: no root file system given")
	}
	if !filepath.IsAbs(c.RootFS) {
		return fmt.Errorf("sandbox: root file system %q is not an absolute path", c.RootFS)
	}
	fi, err := os.Stat(c.RootFS)
	if err != nil {
		return fmt.Errorf("sandbox: checking root file system: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("sandbox: root file system %s is not a directory", c.RootFS)
	}
	if len(c.Args) == 0 || c.Args[0] == "" {
		return errors.New("sandbox: no command given")
	}
	if c.Cwd != "" && !path.IsAbs(c.Cwd) {
		return fmt.Errorf("sandbox: working directory %q is not absolute", c.Cwd)
	}
	for _, e := range c.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("sandbox: environment entry %q is not KEY=value", e)
		}
	}
	if err := validateNetwork(c.Network); err != nil {
		return err
	}
	for _, m := range c.Mounts {
		if !filepath.IsAbs(m.Source) {
			return fmt.Errorf("sandbox: mount source %q is not an absolute path", m.Source)
		}
		if !path.IsAbs(m.Destination) || path.Clean(m.Destination) == "/" {
			return fmt.Errorf("sandbox: mount destination %q must be an absolute path below /", m.Destination)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return fmt.Errorf("sandbox: checking mount source: %w", err)
		}
	}
	if c.CABundle != "" {
		if _, err := os.Stat(c.CABundle); err != nil {
			return fmt.Errorf("sandbox: checking CA bundle: %w", err)
		}
	}
	if c.CPUs < 0 {
		return fmt.Errorf("sandbox: CPUs %v is negative", c.CPUs)
	}
	if !c.NoSeccomp {
		if _, err := hostSeccomp(); err != nil {
			return err
		}
	}
	return nil
}
