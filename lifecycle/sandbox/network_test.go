package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// outboundURL is a URL these machines can reach (the Go module proxy).
const outboundURL = "https://proxy.golang.org/golang.org/x/mod/@v/v0.1.0.info"

// hostTargets starts a TCP listener on the host's loopback and one on all
// of its addresses, and returns what a container dials to reach them:
// the first is the loopback listener's address.
func hostTargets(t *testing.T) (loopback string, all []string, port string) {
	t.Helper()
	var ports []string
	for _, addr := range []string{"127.0.0.1:0", ":0"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		_, p, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, p)
	}
	prefixes, err := hostAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prefixes {
		if !p.Addr().IsLinkLocalUnicast() {
			all = append(all, net.JoinHostPort(p.Addr().String(), ports[1]))
		}
	}
	if len(all) == 0 {
		t.Fatal("the host has no address but loopback ones: nothing to test")
	}
	return "127.0.0.1:" + ports[0], all, ports[1]
}

// dialResults runs `probe dial targets...` and returns "ok" or the error
// of each target.
func dialResults(t *testing.T, cfg Config, targets []string) map[string]string {
	t.Helper()
	cfg.Args = append([]string{"/bin/probe", "dial"}, targets...)
	stdout := runNet(t, cfg)
	return parseDial(t, stdout)
}

func parseDial(t *testing.T, stdout string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		addr, res, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("probe dial printed %q", l)
		}
		got[addr] = res
	}
	return got
}

// runNet runs cfg as root, fails the test unless the process exits with 0,
// and returns its stdout.
func runNet(t *testing.T, cfg Config) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	code, err := Run(context.Background(), cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v (stderr %q)", code, err, stderr.String())
	}
	return stdout.String()
}

// TestNetworkIsolation checks what a container reaches on the host in each
// mode: with its own network, neither the host's loopback (directly or as
// slirp's 10.0.2.2) nor any of the host's addresses; with the host's, both
// (which proves the test would see a leak).
func TestNetworkIsolation(t *testing.T) {
	requireRuntime(t)
	loopback, hostAddrs, port := hostTargets(t)
	slirpHost := []string{"10.0.2.2:" + port, "10.0.2.2:" + strings.TrimPrefix(loopback, "127.0.0.1:")}
	for _, mode := range []string{"", NetworkSlirp, NetworkNone, NetworkHost} {
		t.Run("mode "+strconv.Quote(mode), func(t *testing.T) {
			dirs := newTestDirs(t, testUID, testGID)
			cfg := baseConfig(t, dirs)
			cfg.Network = mode
			targets := append([]string{loopback}, hostAddrs...)
			if mode != NetworkHost {
				targets = append(targets, slirpHost...)
			}
			start := time.Now()
			got := dialResults(t, cfg, targets)
			t.Logf("%d dials in %v: %v", len(targets), time.Since(start), got)
			for _, target := range targets {
				res, ok := got[target]
				switch {
				case !ok:
					t.Errorf("no result for %s", target)
				case mode == NetworkHost && res != "ok":
					t.Errorf("host network: dialling %s: %s; want ok", target, res)
				case mode != NetworkHost && res == "ok":
					t.Errorf("own network: %s is reachable", target)
				case strings.Contains(res, "timeout"):
					t.Errorf("dialling %s timed out instead of failing at once: %s", target, res)
				}
			}
			assertNoSlirp(t, cfg.TempDir)
			assertEmptyDir(t, dirs.state)
		})
	}
}

// TestNetworkOutbound fetches from the Go module proxy: through slirp (name
// resolution through its DNS forwarder included) and the host's network,
// not without a network.
func TestNetworkOutbound(t *testing.T) {
	requireRuntime(t)
	ca, err := HostCABundle()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode   string
		wantOK bool
	}{{NetworkSlirp, true}, {NetworkHost, true}, {NetworkNone, false}} {
		t.Run(tc.mode, func(t *testing.T) {
			dirs := newTestDirs(t, testUID, testGID)
			cfg := baseConfig(t, dirs)
			cfg.Network, cfg.CABundle = tc.mode, ca
			cfg.Args = []string{"/bin/probe", "get", outboundURL}
			var stdout, stderr bytes.Buffer
			cfg.Stdout, cfg.Stderr = &stdout, &stderr
			code, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if ok := code == 0 && strings.Contains(stdout.String(), `"v0.1.0"`); ok != tc.wantOK {
				t.Errorf("GET %s: exit %d, stdout %q, stderr %q; want success %v", outboundURL, code, stdout.String(), stderr.String(), tc.wantOK)
			}
			assertNoSlirp(t, cfg.TempDir)
		})
	}
}

// TestNetworkFiles checks the name resolution files and /sys each mode
// gives the process.
func TestNetworkFiles(t *testing.T) {
	requireRuntime(t)
	hostResolv := readFile(t, "/etc/resolv.conf")
	hostHosts := readFile(t, "/etc/hosts")
	slirpResolv := string(resolvConf(NetworkSlirp, []byte(hostResolv)))
	if !strings.Contains(slirpResolv, "\nnameserver 10.0.2.3\n") {
		t.Fatalf("slirp resolv.conf %q names no nameserver 10.0.2.3", slirpResolv)
	}
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbuilder\n"
	hostIface := hostInterface(t)
	tests := []struct {
		mode string
		args []string
		want string
	}{
		{NetworkSlirp, []string{"cat", "/etc/resolv.conf"}, slirpResolv},
		{NetworkNone, []string{"cat", "/etc/resolv.conf"}, string(resolvConf(NetworkNone, []byte(hostResolv)))},
		{NetworkHost, []string{"cat", "/etc/resolv.conf"}, hostResolv},
		{NetworkSlirp, []string{"cat", "/etc/hosts"}, hosts},
		{NetworkNone, []string{"cat", "/etc/hosts"}, hosts},
		{NetworkHost, []string{"cat", "/etc/hosts"}, hostHosts},
		// A fresh sysfs shows the container's interfaces only.
		{NetworkSlirp, []string{"kind", "/sys/class/net/tap0"}, "dir\n"},
		{NetworkNone, []string{"kind", "/sys/class/net/lo"}, "dir\n"},
		{NetworkHost, []string{"kind", "/sys/class/net/" + hostIface}, "dir\n"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			dirs := newTestDirs(t, testUID, testGID)
			cfg := baseConfig(t, dirs)
			cfg.Network, cfg.Hostname = tt.mode, "builder"
			cfg.Args = append([]string{"/bin/probe"}, tt.args...)
			if diff := cmp.Diff(tt.want, runNet(t, cfg)); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no host interfaces in sysfs", func(t *testing.T) {
		dirs := newTestDirs(t, testUID, testGID)
		cfg := baseConfig(t, dirs)
		cfg.Args = []string{"/bin/probe", "kind", "/sys/class/net/" + hostIface}
		var stderr bytes.Buffer
		cfg.Stderr = &stderr
		if code, err := Run(context.Background(), cfg); err != nil || code != 2 {
			t.Errorf("Run = %d, %v; want exit 2 (stderr %q)", code, err, stderr.String())
		}
	})
}

// hostInterface names a host interface other than loopback.
func hostInterface(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return i.Name
		}
	}
	t.Fatal("the host has only loopback interfaces")
	return ""
}

// TestNetworkCancel cancels a running slirp container and checks that
// slirp4netns and the network namespace are gone with it.
func TestNetworkCancel(t *testing.T) {
	cfg, dirs, token := sleepConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var netns string
	var slirps []int
	var stdout bytes.Buffer
	cfg.Stdout = &watchWriter{buf: &stdout, token: token, hit: func() {
		netns, slirps = processNetNS(t, token), slirpProcs(t, cfg.TempDir)
		cancel()
	}}
	code, err := Run(ctx, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %d, %v; want context.Canceled", code, err)
	}
	if netns == "" || len(slirps) != 1 {
		t.Fatalf("while the process ran: network namespace %q, slirp4netns processes %v; want one each", netns, slirps)
	}
	assertNoProcess(t, token)
	assertNoSlirp(t, cfg.TempDir)
	assertNetNSGone(t, netns)
	assertEmptyDir(t, dirs.state)
}

// TestNetworkNamespaceGone checks that a finished container leaves no
// network namespace behind.
func TestNetworkNamespaceGone(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	cfg := baseConfig(t, dirs)
	cfg.Args = []string{"/bin/probe", "netns"}
	netns := strings.TrimSpace(runNet(t, cfg))
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(netns, "net:[") || netns == self {
		t.Fatalf("container network namespace %q; want one other than the host's %q", netns, self)
	}
	assertNetNSGone(t, netns)
	assertNoSlirp(t, cfg.TempDir)
}

// TestNetworkSlirpFailures runs with stand-ins for slirp4netns that fail
// or never get ready: the container is deleted, the stand-in killed.
func TestNetworkSlirpFailures(t *testing.T) {
	requireRuntime(t)
	tests := []struct {
		name, script string
		timeout      time.Duration
		wantErr      string
	}{{
		name:    "exits at once",
		script:  "echo boom >&2; exit 1",
		wantErr: "slirp4netns: the network did not come up (exit status 1): boom",
	}, {
		name:    "never ready, then cancelled",
		script:  "exec sleep 1000",
		timeout: 2 * time.Second,
		wantErr: context.DeadlineExceeded.Error(),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := t.TempDir()
			if err := os.WriteFile(filepath.Join(bin, SlirpCommand), []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
			dirs := newTestDirs(t, testUID, testGID)
			cfg := baseConfig(t, dirs)
			token := randomToken(t)
			cfg.Args = []string{"/bin/probe", "sleep", token}
			var stdout bytes.Buffer
			cfg.Stdout = &stdout
			ctx := context.Background()
			if tt.timeout > 0 {
				c, cancel := context.WithTimeout(ctx, tt.timeout)
				defer cancel()
				ctx = c
			}
			code, err := Run(ctx, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run = %d, %v; want an error containing %q", code, err, tt.wantErr)
			}
			t.Logf("error: %v", err)
			if stdout.Len() != 0 {
				t.Errorf("the process ran: stdout %q", stdout.String())
			}
			assertNoProcess(t, token)
			assertNoSlirp(t, cfg.TempDir)
			assertEmptyDir(t, dirs.state)
		})
	}
}

// TestNetworkRuntimeFailure: when the runtime cannot create the container,
// no slirp4netns is left.
func TestNetworkRuntimeFailure(t *testing.T) {
	requireRuntime(t)
	dirs := newTestDirs(t, testUID, testGID)
	cfg := baseConfig(t, dirs)
	cfg.Args = []string{"/bin/nothing-here"}
	if code, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "create") {
		t.Fatalf("Run = %d, %v; want the runtime's create to fail", code, err)
	}
	assertNoSlirp(t, cfg.TempDir)
	assertEmptyDir(t, dirs.state)
}

// TestNetworkOverhead reports what the container's own network costs over
// the host's for a process that does nothing.
func TestNetworkOverhead(t *testing.T) {
	requireRuntime(t)
	const n = 15
	median := map[string]time.Duration{}
	for _, mode := range []string{NetworkHost, NetworkNone, NetworkSlirp} {
		dirs := newTestDirs(t, testUID, testGID)
		cfg := baseConfig(t, dirs)
		cfg.Network = mode
		cfg.Args = []string{"/bin/probe", "exit", "0"}
		var ds []time.Duration
		for range n {
			start := time.Now()
			runNet(t, cfg)
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		median[mode] = ds[n/2]
		t.Logf("%-5s median %v (min %v, max %v) over %d runs", mode, ds[n/2], ds[0], ds[n-1], n)
	}
	t.Logf("slirp costs %v over host per run, none %v", median[NetworkSlirp]-median[NetworkHost], median[NetworkNone]-median[NetworkHost])
}

// BenchmarkRunNetwork times a no-op container in each network mode.
func BenchmarkRunNetwork(b *testing.B) {
	for _, mode := range []string{NetworkHost, NetworkNone, NetworkSlirp} {
		b.Run(mode, func(b *testing.B) {
			cfg := Config{RootFS: rootfs, Network: mode, StateDir: b.TempDir(), TempDir: b.TempDir(), Args: []string{"/bin/probe", "exit", "0"}}
			for b.Loop() {
				if code, err := Run(context.Background(), cfg); err != nil || code != 0 {
					b.Fatalf("Run = %d, %v", code, err)
				}
			}
		})
	}
}

func TestValidateNetwork(t *testing.T) {
	for _, mode := range []string{"", NetworkSlirp, NetworkHost, NetworkNone} {
		if err := validateNetwork(mode); err != nil {
			t.Errorf("validateNetwork(%q) = %v", mode, err)
		}
	}
	err := validateNetwork("bridge")
	if !errors.Is(err, ErrUnknownNetwork) {
		t.Fatalf("validateNetwork(bridge) = %v; want ErrUnknownNetwork", err)
	}
	if diff := cmp.Diff(`sandbox: unknown network mode "bridge" (want slirp, host or none)`, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
}

func TestResolvConf(t *testing.T) {
	host := "# managed\nnameserver 127.0.0.53\nsearch corp.example  lan\noptions edns0 trust-ad\n"
	for _, tc := range []struct{ mode, want string }{
		{NetworkSlirp, "# written by kiln for the build container\nnameserver 10.0.2.3\nsearch corp.example lan\noptions edns0 trust-ad\n"},
		{NetworkNone, "# written by kiln for the build container\nsearch corp.example lan\noptions edns0 trust-ad\n"},
	} {
		if diff := cmp.Diff(tc.want, string(resolvConf(tc.mode, []byte(host)))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.mode, diff)
		}
	}
}

// slirpProcs lists the slirp4netns processes serving bundles under dir (see
// envSlirpBundle).
func slirpProcs(t *testing.T, dir string) []int {
	t.Helper()
	envs, err := filepath.Glob("/proc/[0-9]*/environ")
	if err != nil {
		t.Fatal(err)
	}
	marker := []byte(envSlirpBundle + "=" + dir + "/")
	var pids []int
	for _, p := range envs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, marker) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func assertNoSlirp(t *testing.T, dir string) {
	t.Helper()
	if pids := slirpProcs(t, dir); len(pids) != 0 {
		t.Errorf("slirp4netns still runs for a bundle in %s: pids %v", dir, pids)
	}
}

// processNetNS returns the network namespace of the process with token on
// its command line.
func processNetNS(t *testing.T, token string) string {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(token)) {
			ns, err := os.Readlink(filepath.Join(filepath.Dir(p), "ns", "net"))
			if err == nil {
				return ns
			}
		}
	}
	return ""
}

// assertNetNSGone fails if any process is in network namespace ns or holds
// a file descriptor of it.
func assertNetNSGone(t *testing.T, ns string) {
	t.Helper()
	links, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	var holders []string
	for _, l := range append(links, fds...) {
		if target, err := os.Readlink(l); err == nil && target == ns {
			holders = append(holders, l)
		}
	}
	sort.Strings(holders)
	if len(holders) != 0 {
		t.Errorf("network namespace %s still held by %v", ns, holders)
	}
}

// TestRootlessNetwork runs the network checks as an unprivileged user: the
// supervisor, root only in its own user namespace, creates the container's
// network namespace, closes the host's addresses in it and starts
// slirp4netns.
func TestRootlessNetwork(t *testing.T) {
	requireRuntime(t)
	loopback, hostAddrs, port := hostTargets(t)
	targets := append([]string{loopback, "10.0.2.2:" + port}, hostAddrs...)
	ca, err := HostCABundle()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mode   string
		args   []string
		check  func(t *testing.T, stdout string)
		config func(c *Config)
	}{{
		name: "slirp: nothing on the host is reachable",
		mode: NetworkSlirp,
		args: append([]string{"dial"}, targets...),
		check: func(t *testing.T, stdout string) {
			for a, res := range parseDial(t, stdout) {
				if res == "ok" || strings.Contains(res, "timeout") {
					t.Errorf("dialling %s: %s; want a refusal", a, res)
				}
			}
		},
	}, {
		name: "host: the host is reachable",
		mode: NetworkHost,
		args: append([]string{"dial", loopback}, hostAddrs...),
		check: func(t *testing.T, stdout string) {
			for a, res := range parseDial(t, stdout) {
				if res != "ok" {
					t.Errorf("dialling %s: %s; want ok", a, res)
				}
			}
		},
	}, {
		name:   "slirp: outbound HTTPS",
		mode:   NetworkSlirp,
		args:   []string{"get", outboundURL},
		config: func(c *Config) { c.CABundle = ca },
		check: func(t *testing.T, stdout string) {
			if !strings.Contains(stdout, `"v0.1.0"`) {
				t.Errorf("GET %s: %q", outboundURL, stdout)
			}
		},
	}, {
		name: "slirp: a fresh sysfs",
		mode: NetworkSlirp,
		args: []string{"kind", "/sys/class/net/tap0"},
		check: func(t *testing.T, stdout string) {
			if stdout != "dir\n" {
				t.Errorf("/sys/class/net/tap0: %q", stdout)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirs := newTestDirs(t, nobody, nobody)
			cfg := rootlessConfig(t, dirs)
			cfg.Network = tt.mode
			cfg.Args = append([]string{"/bin/probe"}, tt.args...)
			if tt.config != nil {
				tt.config(&cfg)
			}
			resp := runRootless(t, helperRequest{Config: cfg})
			if resp.Err != "" || resp.Exit != 0 {
				t.Fatalf("Run as uid %d = %d, %s (stderr %q)", nobody, resp.Exit, resp.Err, resp.Stderr)
			}
			tt.check(t, resp.Stdout)
			assertNoSlirp(t, cfg.TempDir)
			assertEmptyDir(t, dirs.state)
		})
	}
}

// shareTunDevice makes /dev/net/tun usable by everyone in the calling
// process's (private) mount namespace, as udev makes it on most systems
// (mode 0666): a copy of the device node made on a fresh tmpfs is bound
// over it. The rootless tests call it as root before becoming nobody, who
// otherwise could not use slirp4netns on a machine that keeps it 0600.
func shareTunDevice() error {
	var st syscall.Stat_t
	if err := syscall.Stat(tunDevice, &st); err != nil {
		return fmt.Errorf("checking %s: %w", tunDevice, err)
	}
	if st.Mode&0o666 == 0o666 {
		return nil
	}
	dir, err := os.MkdirTemp("", "kiln-sandbox-tun-")
	if err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		return fmt.Errorf("mounting a tmpfs on %s: %w", dir, err)
	}
	node := filepath.Join(dir, "tun")
	if err := syscall.Mknod(node, syscall.S_IFCHR|0o666, int(st.Rdev)); err != nil {
		return fmt.Errorf("making %s: %w", node, err)
	}
	if err := os.Chmod(node, 0o666); err != nil {
		return err
	}
	if err := syscall.Mount(node, tunDevice, "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s over %s: %w", node, tunDevice, err)
	}
	// The bind mount keeps the node; the directory can go.
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting %s: %w", dir, err)
	}
	return os.Remove(dir)
}
