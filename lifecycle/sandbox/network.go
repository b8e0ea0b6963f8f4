package sandbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Network modes of Config.Network.
const (
	// NetworkSlirp (the default) gives the container its own network
	// namespace with outbound access only, through slirp4netns: nothing
	// listening on the host, on its loopback or on any of its addresses,
	// is reachable.
	NetworkSlirp = "slirp"
	// NetworkHost shares the host's network, /etc/resolv.conf and
	// /etc/hosts: every service of the host is reachable.
	NetworkHost = "host"
	// NetworkNone gives the container its own network namespace holding
	// only a loopback interface.
	NetworkNone = "none"
)

// ErrUnknownNetwork is wrapped by Run's error when Config.Network names no
// network mode.
var ErrUnknownNetwork = errors.New("unknown network mode")

// SlirpCommand is the user-mode network stack Run starts for NetworkSlirp,
// looked up in PATH (Debian package slirp4netns).
const SlirpCommand = "slirp4netns"

// Addresses inside the container with NetworkSlirp (slirp4netns's defaults).
const (
	slirpDNS = "10.0.2.3"
	slirpMTU = 65520
	slirpTap = "tap0"
)

// networkMode returns c.Network with the default filled in.
func (c *Config) networkMode() string {
	if c.Network == "" {
		return NetworkSlirp
	}
	return c.Network
}

// ownNetNS reports whether the container gets its own network namespace.
func (c *Config) ownNetNS() bool {
	return c.networkMode() != NetworkHost
}

func validateNetwork(mode string) error {
	switch mode {
	case "", NetworkSlirp, NetworkHost, NetworkNone:
		return nil
	}
	return fmt.Errorf("sandbox: %w %q (want slirp, host or none)", ErrUnknownNetwork, mode)
}

// lookupSlirp returns the absolute path of slirp4netns when the mode needs
// it, else "". Rootless, it also checks that the caller may open the tun
// device slirp4netns makes the container's interface with.
func lookupSlirp(mode string, rootless bool) (string, error) {
	if mode != NetworkSlirp {
		return "", nil
	}
	p, err := exec.LookPath(SlirpCommand)
	if err != nil {
		return "", fmt.Errorf("sandbox: finding %s for the container's network (install package slirp4netns, or use network mode %q): %w", SlirpCommand, NetworkHost, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("sandbox: resolving %s: %w", p, err)
	}
	if rootless {
		if err := unix.Access(tunDevice, unix.R_OK|unix.W_OK); err != nil {
			return "", fmt.Errorf("sandbox: rootless, the container's network needs %s readable and writable by everyone (mode 0666, as udev makes it; chmod 0666 %s), or use network mode %q: %w", tunDevice, tunDevice, NetworkHost, err)
		}
	}
	return abs, nil
}

// tunDevice is the device slirp4netns opens to make the container's tap
// interface.
const tunDevice = "/dev/net/tun"

// writeNetworkFiles writes the container's /etc/resolv.conf and /etc/hosts
// into the bundle when it has its own network, and returns their paths; with
// the host's network it writes nothing and returns "", "".
func writeNetworkFiles(c *Config, bundle string) (resolv, hosts string, err error) {
	if !c.ownNetNS() {
		return "", "", nil
	}
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("sandbox: reading the host's /etc/resolv.conf: %w", err)
	}
	hostname := c.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	resolv = filepath.Join(bundle, "resolv.conf")
	hosts = filepath.Join(bundle, "hosts")
	for p, b := range map[string][]byte{
		resolv: resolvConf(c.networkMode(), hostResolv),
		hosts:  hostsFile(hostname),
	} {
		// Readable by everyone: it is bound read-only into the
		// container, whose process may run as any user.
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", "", fmt.Errorf("sandbox: writing %s: %w", p, err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			return "", "", fmt.Errorf("sandbox: setting the mode of %s: %w", p, err)
		}
	}
	return resolv, hosts, nil
}

// resolvConf is the container's resolv.conf: slirp4netns's DNS forwarder
// (none without a network) and the host's search and options lines.
func resolvConf(mode string, host []byte) []byte {
	var b bytes.Buffer
	b.WriteString("# written by kiln for the build container\n")
	if mode == NetworkSlirp {
		b.WriteString("nameserver " + slirpDNS + "\n")
	}
	for _, l := range strings.Split(string(host), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && (f[0] == "search" || f[0] == "domain" || f[0] == "options") {
			b.WriteString(strings.Join(f, " ") + "\n")
		}
	}
	return b.Bytes()
}

// hostsFile is the container's /etc/hosts.
func hostsFile(hostname string) []byte {
	return []byte("127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"127.0.1.1\t" + hostname + "\n")
}

// netSetupCaps are the capabilities (numbers from <linux/capability.h>) a
// rootless supervisor keeps in its user namespace to open the network
// namespace of the created container's process (not dumpable yet, hence
// CAP_SYS_PTRACE), enter it and add routes there.
var netSetupCaps = []uintptr{
	12, // CAP_NET_ADMIN
	19, // CAP_SYS_PTRACE
	21, // CAP_SYS_ADMIN
}

// Timeouts of the slirp4netns helper.
const (
	// slirpReadyTimeout bounds the wait for slirp4netns to configure the
	// container's interface.
	slirpReadyTimeout = 10 * time.Second
	// slirpStopGrace bounds the wait for slirp4netns's exit status when
	// it failed to come up.
	slirpStopGrace = time.Second
)

// envSlirpBundle names the bundle directory in slirp4netns's environment,
// so an operator (and the tests) can tell which container it serves.
const envSlirpBundle = "KILN_SANDBOX_BUNDLE"

// slirp is a running slirp4netns serving one container's network namespace.
type slirp struct {
	cmd     *exec.Cmd
	exitW   *os.File      // closing it tells slirp4netns to exit
	ready   chan error    // nil once the interface is up
	exited  chan struct{} // closed once slirp4netns has exited and been reaped
	waitErr error
	out     tailWriter
	once    sync.Once
}

// startSlirp starts slirp4netns (at path) for the network namespace of pid.
// It runs in the host's network namespace (the supervisor's) and forwards
// the container's outbound connections from there; --disable-host-loopback
// refuses connections to the host's loopback through 10.0.2.2.
func startSlirp(path string, pid int, bundle string) (*slirp, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", SlirpCommand, err)
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		return nil, fmt.Errorf("starting %s: %w", SlirpCommand, err)
	}
	s := &slirp{exitW: exitW, ready: make(chan error, 1), exited: make(chan struct{})}
	s.cmd = exec.Command(path, "--configure", "--mtu="+strconv.Itoa(slirpMTU),
		"--disable-host-loopback", "--enable-sandbox", "--enable-seccomp",
		"--ready-fd=3", "--exit-fd=4", strconv.Itoa(pid), slirpTap)
	s.cmd.ExtraFiles = []*os.File{readyW, exitR}
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.Env = append(os.Environ(), envSlirpBundle+"="+bundle)
	err = s.cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		readyR.Close()
		exitW.Close()
		return nil, fmt.Errorf("starting %s: %w", SlirpCommand, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	go func() {
		defer readyR.Close()
		var b [1]byte
		if _, err := readyR.Read(b[:]); err != nil {
			s.ready <- err
			return
		}
		s.ready <- nil
	}()
	return s, nil
}

// awaitReady waits until slirp4netns has brought the container's interface
// up; a signal on sigs cancels the wait with errCancelled.
func (s *slirp) awaitReady(sigs <-chan os.Signal) error {
	t := time.NewTimer(slirpReadyTimeout)
	defer t.Stop()
	select {
	case err := <-s.ready:
		if err == nil {
			return nil
		}
		status := "still running"
		select {
		case <-s.exited:
			status = fmt.Sprint(s.waitErr)
		case <-time.After(slirpStopGrace):
		}
		return fmt.Errorf("%s: the network did not come up (%s): %s", SlirpCommand, status, s.out.String())
	case <-sigs:
		return errCancelled
	case <-t.C:
		return fmt.Errorf("%s: the network was not up after %v: %s", SlirpCommand, slirpReadyTimeout, s.out.String())
	}
}

// release ends slirp4netns once its container has exited, without waiting
// for the kernel to tear its tap device down (10-30 ms, most of what the
// network costs a build): it is killed, and reaped by whoever inherits it
// when the supervisor exits. Its memory is gone first, so nothing of it is
// left to read.
func (s *slirp) release() {
	s.once.Do(func() {
		s.exitW.Close()
		_ = s.cmd.Process.Kill()
	})
}

// stop ends slirp4netns as release does, and reaps it. Reaping it takes
// the kernel 10-30 ms, spent tearing down its tap device.
func (s *slirp) stop() {
	s.release()
	<-s.exited
}

// tailWriter keeps the last part of what is written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4096

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > tailMax {
		w.buf = append([]byte(nil), w.buf[len(w.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.buf))
}

var _ io.Writer = (*tailWriter)(nil)

// blockHostAddrs adds a "prohibit" route for every address of every host
// interface (but loopback ones) to the network namespace of pid. slirp4netns
// opens the container's connections from the host's network namespace, so a
// connection to one of the host's own addresses would reach services bound
// to 0.0.0.0 there; with these routes it fails at once with EACCES. The
// container has no CAP_NET_ADMIN to remove them.
func blockHostAddrs(pid int) error {
	prefixes, err := hostAddrs()
	if err != nil {
		return fmt.Errorf("blocking the host's addresses: listing them: %w", err)
	}
	err = inNetNS(pid, func() error {
		fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("opening a netlink socket: %w", err)
		}
		defer syscall.Close(fd)
		if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
			return fmt.Errorf("binding a netlink socket: %w", err)
		}
		for i, p := range prefixes {
			err := addProhibitRoute(fd, uint32(i+1), p)
			if err != nil && !(p.Addr().Is6() && errors.Is(err, syscall.EAFNOSUPPORT)) {
				return fmt.Errorf("adding a route for %s: %w", p.Addr(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("blocking the host's addresses in the container's network: %w", err)
	}
	return nil
}

// hostAddrs lists the addresses of the host's interfaces, but loopback
// ones, as single-address prefixes.
func hostAddrs() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsUnspecified() || seen[ip] {
			continue
		}
		seen[ip] = true
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

// inNetNS runs fn on an OS thread of its own in the network namespace of
// pid. A rootless supervisor cannot return to the host's network namespace
// (that takes CAP_SYS_ADMIN in the host's user namespace), so the thread is
// never handed back: it ends with the goroutine.
func inNetNS(pid int, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Not unlocked: the Go runtime then ends the thread.
		target, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err != nil {
			done <- fmt.Errorf("opening the network namespace: %w", err)
			return
		}
		err = setns(target, syscall.CLONE_NEWNET)
		target.Close()
		if err != nil {
			done <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		done <- fn()
	}()
	return <-done
}

func setns(f *os.File, nstype int) error {
	return unix.Setns(int(f.Fd()), nstype)
}

// Route attributes from <linux/rtnetlink.h> the syscall package lacks.
const (
	rtTableMain   = 254
	rtProtBoot    = 3
	rtScopeGlobal = 0
	rtnProhibit   = 8
)

// addProhibitRoute adds "prohibit P" to the main table through the route
// netlink socket fd and waits for the kernel's answer.
func addProhibitRoute(fd int, seq uint32, p netip.Prefix) error {
	addr := p.Addr().AsSlice()
	family := syscall.AF_INET
	if p.Addr().Is6() {
		family = syscall.AF_INET6
	}
	attrLen := syscall.SizeofRtAttr + len(addr)
	b := make([]byte, syscall.SizeofNlMsghdr+syscall.SizeofRtMsg+attrLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], syscall.RTM_NEWROUTE)
	ne.PutUint16(b[6:], syscall.NLM_F_REQUEST|syscall.NLM_F_ACK|syscall.NLM_F_CREATE|syscall.NLM_F_EXCL)
	ne.PutUint32(b[8:], seq)
	r := b[syscall.SizeofNlMsghdr:]
	// family, dst_len, src_len, tos, table, protocol, scope, type; flags 0
	copy(r, []byte{byte(family), byte(p.Bits()), 0, 0, rtTableMain, rtProtBoot, rtScopeGlobal, rtnProhibit})
	a := r[syscall.SizeofRtMsg:]
	ne.PutUint16(a[0:], uint16(attrLen))
	ne.PutUint16(a[2:], syscall.RTA_DST)
	copy(a[syscall.SizeofRtAttr:], addr)
	if err := syscall.Sendto(fd, b, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return err
	}
	return netlinkAck(fd, seq)
}

// netlinkAck reads the kernel's acknowledgement of message seq.
func netlinkAck(fd int, seq uint32) error {
	buf := make([]byte, 4096)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Type != syscall.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			switch errno := -int32(binary.NativeEndian.Uint32(m.Data)); errno {
			case 0, int32(syscall.EEXIST):
				return nil
			default:
				return syscall.Errno(errno)
			}
		}
	}
}

// netNamespace is the spec's network namespace entry: a new one unless the
// container shares the host's.
func netNamespace(c *Config) []specs.LinuxNamespace {
	if !c.ownNetNS() {
		return nil
	}
	return []specs.LinuxNamespace{{Type: specs.NetworkNamespace}}
}

// orHost returns bundleFile, or the host's file when there is none.
func orHost(bundleFile, hostFile string) string {
	if bundleFile != "" {
		return bundleFile
	}
	return hostFile
}
