package sandbox

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestBuildSpecMounts(t *testing.T) {
	base := Config{RootFS: "/rootfs", Args: []string{"/bin/true"}}
	tests := []struct {
		name   string
		config func(c *Config)
		mode   specMode
		want   []string // "destination type source options"
	}{{
		name: "as root",
		want: []string{
			"/proc proc proc nosuid,noexec,nodev",
			"/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k",
			"/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
			"/dev/shm tmpfs shm nosuid,noexec,nodev,mode=1777,size=65536k",
			"/dev/mqueue mqueue mqueue nosuid,noexec,nodev",
			"/sys sysfs sysfs nosuid,noexec,nodev,ro",
			"/tmp tmpfs tmpfs nosuid,nodev,mode=1777",
			"/etc/resolv.conf bind /etc/resolv.conf rbind,nosuid,nodev,noexec,ro",
			"/etc/hosts bind /etc/hosts rbind,nosuid,nodev,noexec,ro",
		},
	}, {
		name:   "in a user namespace with the host's network, with the tmp mode directory",
		config: func(c *Config) { c.Network = NetworkHost },
		mode:   specMode{userNS: true, tmpModeDir: "/bundle/tmp-mode"},
		want: []string{
			"/proc proc proc nosuid,noexec,nodev",
			"/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k",
			"/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620",
			"/dev/shm tmpfs shm nosuid,noexec,nodev,mode=1777,size=65536k",
			"/dev/mqueue mqueue mqueue nosuid,noexec,nodev",
			"/sys bind /sys rbind,nosuid,noexec,nodev,ro",
			"/tmp bind /bundle/tmp-mode rbind,nosuid,nodev,noexec,ro",
			"/tmp tmpfs tmpfs nosuid,nodev,mode=1777",
			"/etc/resolv.conf bind /etc/resolv.conf rbind,nosuid,nodev,noexec,ro",
			"/etc/hosts bind /etc/hosts rbind,nosuid,nodev,noexec,ro",
		},
	}, {
		name: "in a user namespace with its own network: a fresh sysfs, the bundle's name files",
		mode: specMode{userNS: true, resolvConf: "/bundle/resolv.conf", hosts: "/bundle/hosts"},
		want: []string{
			"/proc proc proc nosuid,noexec,nodev",
			"/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k",
			"/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620",
			"/dev/shm tmpfs shm nosuid,noexec,nodev,mode=1777,size=65536k",
			"/dev/mqueue mqueue mqueue nosuid,noexec,nodev",
			"/sys sysfs sysfs nosuid,noexec,nodev,ro",
			"/tmp tmpfs tmpfs nosuid,nodev,mode=1777",
			"/etc/resolv.conf bind /bundle/resolv.conf rbind,nosuid,nodev,noexec,ro",
			"/etc/hosts bind /bundle/hosts rbind,nosuid,nodev,noexec,ro",
		},
	}, {
		name: "CA bundle and caller mounts, one replacing /etc/hosts",
		config: func(c *Config) {
			c.CABundle = "/host/ca.pem"
			c.Mounts = []Mount{
				{Source: "/host/ws", Destination: "/workspace/"},
				{Source: "/host/platform", Destination: "/platform", ReadOnly: true},
				{Source: "/host/hosts", Destination: "/etc/hosts", ReadOnly: true},
			}
		},
		want: []string{
			"/proc proc proc nosuid,noexec,nodev",
			"/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k",
			"/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
			"/dev/shm tmpfs shm nosuid,noexec,nodev,mode=1777,size=65536k",
			"/dev/mqueue mqueue mqueue nosuid,noexec,nodev",
			"/sys sysfs sysfs nosuid,noexec,nodev,ro",
			"/tmp tmpfs tmpfs nosuid,nodev,mode=1777",
			"/etc/resolv.conf bind /etc/resolv.conf rbind,nosuid,nodev,noexec,ro",
			"/etc/ssl/certs/ca-certificates.crt bind /host/ca.pem rbind,nosuid,nodev,noexec,ro",
			"/kiln/ca-certificates.crt bind /host/ca.pem rbind,nosuid,nodev,noexec,ro",
			"/workspace bind /host/ws rbind,nosuid,nodev,rw",
			"/platform bind /host/platform rbind,nosuid,nodev,ro",
			"/etc/hosts bind /host/hosts rbind,nosuid,nodev,ro",
		},
	}, {
		name: "a caller's /tmp replaces the tmpfs and its mode directory",
		mode: specMode{tmpModeDir: "/bundle/tmp-mode"},
		config: func(c *Config) {
			c.Mounts = []Mount{{Source: "/host/tmp", Destination: "/tmp"}}
		},
		want: []string{
			"/proc proc proc nosuid,noexec,nodev",
			"/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k",
			"/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5",
			"/dev/shm tmpfs shm nosuid,noexec,nodev,mode=1777,size=65536k",
			"/dev/mqueue mqueue mqueue nosuid,noexec,nodev",
			"/sys sysfs sysfs nosuid,noexec,nodev,ro",
			"/etc/resolv.conf bind /etc/resolv.conf rbind,nosuid,nodev,noexec,ro",
			"/etc/hosts bind /etc/hosts rbind,nosuid,nodev,noexec,ro",
			"/tmp bind /host/tmp rbind,nosuid,nodev,rw",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			if tt.config != nil {
				tt.config(&c)
			}
			var got []string
			for _, m := range buildSpec(&c, tt.mode).Mounts {
				got = append(got, strings.Join([]string{m.Destination, m.Type, m.Source, strings.Join(m.Options, ",")}, " "))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mounts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildSpecProcess(t *testing.T) {
	c := Config{
		RootFS:         "/rootfs",
		Args:           []string{"/cnb/lifecycle/builder", "-app", "/workspace"},
		Env:            []string{"CNB_STACK_ID=x"},
		UID:            1001,
		GID:            1002,
		AdditionalGIDs: []uint32{44},
	}
	s := buildSpec(&c, specMode{})
	umask := uint32(0o022)
	want := &specs.Process{
		User:            specs.User{UID: 1001, GID: 1002, Umask: &umask, AdditionalGids: []uint32{44}},
		Args:            []string{"/cnb/lifecycle/builder", "-app", "/workspace"},
		Env:             []string{"CNB_STACK_ID=x", "PATH=" + DefaultPath},
		Cwd:             "/",
		Capabilities:    &specs.LinuxCapabilities{},
		NoNewPrivileges: true,
	}
	if diff := cmp.Diff(want, s.Process); diff != "" {
		t.Errorf("process (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&specs.Root{Path: "/rootfs", Readonly: true}, s.Root); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
	if s.Hostname != DefaultHostname {
		t.Errorf("hostname = %q, want %q", s.Hostname, DefaultHostname)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, n.Type)
	}
	// Its own network namespace (NetworkSlirp by default) and no user
	// namespace in the spec (rootless runs bring their own).
	wantNS := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace, specs.NetworkNamespace}
	if diff := cmp.Diff(wantNS, ns); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
	if s.Linux.Resources != nil || s.Linux.CgroupsPath != "" {
		t.Errorf("cgroup settings present: %+v %q", s.Linux.Resources, s.Linux.CgroupsPath)
	}

	// The empty capability sets must reach the runtime as an object, not
	// be dropped: a missing "capabilities" would let runc keep its own.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"capabilities":{}`) {
		t.Errorf("config.json has no empty capabilities object: %s", b)
	}
}

func TestProcessEnv(t *testing.T) {
	tests := []struct {
		name   string
		env    []string
		withCA bool
		want   []string
	}{{
		name: "PATH added",
		env:  []string{"A=1"},
		want: []string{"A=1", "PATH=" + DefaultPath},
	}, {
		name: "PATH kept",
		env:  []string{"PATH=/bin"},
		want: []string{"PATH=/bin"},
	}, {
		name:   "CA variables added unless set, even when set empty",
		env:    []string{"PATH=/bin", "GIT_SSL_CAINFO=/mine", "PIP_CERT="},
		withCA: true,
		want: []string{
			"PATH=/bin", "GIT_SSL_CAINFO=/mine", "PIP_CERT=",
			"SSL_CERT_FILE=" + CABundlePath,
			"NODE_EXTRA_CA_CERTS=" + CABundlePath,
			"REQUESTS_CA_BUNDLE=" + CABundlePath,
			"CURL_CA_BUNDLE=" + CABundlePath,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, processEnv(tt.env, tt.withCA)); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}
