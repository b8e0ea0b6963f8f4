package sandbox

import (
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CABundlePath is the fixed path inside the container where the CA bundle is
// mounted and where the variables in CAEnv point.
const CABundlePath = "/kiln/ca-certificates.crt"

// SystemCABundlePath is where Debian-family images keep their CA bundle; the
// bundle is mounted there too so tools that ignore the variables trust it.
const SystemCABundlePath = "/etc/ssl/certs/ca-certificates.crt"

// CAEnv lists the variables pointed at CABundlePath unless the caller set
// them: OpenSSL and Go, Node.js, Python requests, curl, git and pip.
var CAEnv = []string{
	"SSL_CERT_FILE",
	"NODE_EXTRA_CA_CERTS",
	"REQUESTS_CA_BUNDLE",
	"CURL_CA_BUNDLE",
	"GIT_SSL_CAINFO",
	"PIP_CERT",
}

// Paths hidden from the process (files covered by /dev/null, directories by
// an empty tmpfs) and paths made read-only, as in runc's default spec.
var (
	maskedPaths = []string{
		"/proc/acpi",
		"/proc/asound",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
)

// specMode holds the facts about the host that change the spec.
type specMode struct {
	// userNS is set when the runtime runs inside a user namespace (kiln is
	// rootless, or root in a container). sysfs cannot be mounted there
	// while sharing the host's network namespace, so with NetworkHost /sys
	// is a read-only bind of the host's; and devpts cannot be given the
	// host's tty gid.
	userNS bool
	// resolvConf and hosts are the bundle's files bound at
	// /etc/resolv.conf and /etc/hosts when the container has its own
	// network (see writeNetworkFiles); empty means the host's.
	resolvConf, hosts string
	// tmpModeDir is an empty host directory of mode 1777 bound at /tmp
	// just before the tmpfs. runc 1.1 gives a tmpfs the mode of the
	// directory it covers, whatever the mode= option says; covering the
	// image's /tmp with this directory first makes that mode 1777 for
	// every image.
	tmpModeDir string
	// ids, when set, gives the container its own user namespace mapping
	// container ids 0-65535 onto this host range (kiln runs as root).
	ids *IDRange
	// cgroupsPath, when set, is the container's cgroup, which gets
	// c.Limits (kiln runs as root); swap says the host can limit memory
	// plus swap.
	cgroupsPath string
	swap        bool
	// staged holds the mount points the spec's sources were moved to
	// (with ids; see stage), set by writeBundle.
	staged *staging
}

// buildSpec turns a validated Config into an OCI runtime spec.
func buildSpec(c *Config, m specMode) *specs.Spec {
	umask := uint32(0o022)
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}
	hostname := c.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: false,
			User: specs.User{
				UID:            c.UID,
				GID:            c.GID,
				Umask:          &umask,
				AdditionalGids: append([]uint32(nil), c.AdditionalGIDs...),
			},
			Args: append([]string(nil), c.Args...),
			Env:  processEnv(c.Env, c.CABundle != ""),
			Cwd:  cwd,
			// A non-nil, empty set: every capability set is empty.
			// (A nil pointer would let the runtime keep its own.)
			Capabilities:    &specs.LinuxCapabilities{},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: c.RootFS, Readonly: true},
		Hostname: hostname,
		Mounts:   mounts(c, m),
		Linux: &specs.Linux{
			// The user namespace, cgroup settings and seccomp filter: see harden.
			Namespaces: append([]specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			}, netNamespace(c)...),
			MaskedPaths:   append([]string(nil), maskedPaths...),
			ReadonlyPaths: append([]string(nil), readonlyPaths...),
		},
	}
	harden(s, c, m)
	return s
}

// harden adds what confines hostile code: the seccomp filter, the user
// namespace over m.ids and the cgroup limits.
func harden(s *specs.Spec, c *Config, m specMode) {
	if !c.NoSeccomp {
		// validate made sure there is a filter for this architecture.
		s.Linux.Seccomp, _ = hostSeccomp()
	}
	if m.ids != nil {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = m.ids.mappings()
		// sysfs can only be mounted by a user namespace that owns
		// the network namespace: a fresh one the runtime makes after
		// the user namespace does, the host's does not.
		if !hasNamespace(s, specs.NetworkNamespace) {
			bindHostSys(s.Mounts)
		}
	}
	if m.cgroupsPath != "" {
		s.Linux.CgroupsPath = m.cgroupsPath
		s.Linux.Resources = c.Limits.resources(m.swap)
	}
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// bindHostSys replaces a sysfs mount at /sys by a read-only bind of the
// host's.
func bindHostSys(ms []specs.Mount) {
	for i, m := range ms {
		if m.Destination == "/sys" && m.Type == "sysfs" {
			ms[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

// mounts lists the container's mounts: the kernel file systems, /tmp, the
// host's name resolution files, the CA bundle, then the caller's mounts. A
// caller mount replaces a built-in one with the same destination.
func mounts(c *Config, m specMode) []specs.Mount {
	taken := map[string]bool{}
	for _, cm := range c.Mounts {
		taken[path.Clean(cm.Destination)] = true
	}
	devpts := []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}
	if !m.userNS {
		devpts = append(devpts, "gid=5")
	}
	sys := specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}}
	if m.userNS && !c.ownNetNS() {
		sys = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
	}
	builtin := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: devpts},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		sys,
	}
	if m.tmpModeDir != "" {
		builtin = append(builtin, roBind(m.tmpModeDir, "/tmp"))
	}
	builtin = append(builtin,
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		roBind(orHost(m.resolvConf, "/etc/resolv.conf"), "/etc/resolv.conf"),
		roBind(orHost(m.hosts, "/etc/hosts"), "/etc/hosts"),
	)
	if c.CABundle != "" {
		builtin = append(builtin,
			roBind(c.CABundle, SystemCABundlePath),
			roBind(c.CABundle, CABundlePath),
		)
	}
	var out []specs.Mount
	for _, b := range builtin {
		if !taken[b.Destination] {
			out = append(out, b)
		}
	}
	for _, cm := range c.Mounts {
		opts := []string{"rbind", "nosuid", "nodev"}
		if cm.ReadOnly {
			opts = append(opts, "ro")
		} else {
			opts = append(opts, "rw")
		}
		out = append(out, specs.Mount{Destination: path.Clean(cm.Destination), Type: "bind", Source: cm.Source, Options: opts})
	}
	return out
}

func roBind(src, dst string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "nosuid", "nodev", "noexec", "ro"}}
}

// processEnv completes the caller's environment: PATH if missing, and the CA
// variables if a bundle is mounted and the caller did not set them.
func processEnv(env []string, withCA bool) []string {
	out := append([]string(nil), env...)
	set := map[string]bool{}
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		set[k] = true
	}
	if !set["PATH"] {
		out = append(out, "PATH="+DefaultPath)
	}
	if withCA {
		for _, k := range CAEnv {
			if !set[k] {
				out = append(out, k+"="+CABundlePath)
			}
		}
	}
	return out
}
