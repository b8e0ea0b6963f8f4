package sandbox

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompDenied must not be allowed by any rule.
var seccompDenied = []string{
	"unshare", "setns", "mount", "umount", "umount2", "pivot_root", "chroot",
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "acct",
	"settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "iopl", "ioperm",
	"lookup_dcookie", "quotactl", "quotactl_fd", "nfsservctl",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr",
	"syslog", "sethostname", "setdomainname", "vhangup", "fanotify_init", "modify_ldt",
}

// seccompAllowed must be allowed whatever their arguments.
var seccompAllowed = []string{
	"read", "write", "openat", "close", "execve", "execveat", "futex", "epoll_pwait",
	"epoll_wait", "statx", "newfstatat", "getrandom", "rseq", "mmap", "mprotect", "brk",
	"wait4", "waitid", "vfork", "fork", "pipe2", "dup3", "fcntl", "ioctl", "rt_sigaction",
	"rt_sigprocmask", "set_robust_list", "prlimit64", "arch_prctl", "getdents64",
	"connect", "sendto", "recvfrom", "ptrace", "prctl", "sched_getaffinity", "copy_file_range",
}

func TestSeccompProfile(t *testing.T) {
	p, err := parseSeccomp(seccompJSON)
	if err != nil {
		t.Fatal(err)
	}
	for goarch, want := range map[string][]specs.Arch{"amd64": {specs.ArchX86_64}, "arm64": {specs.ArchAARCH64}} {
		s, err := p.spec(goarch)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, s.Architectures); diff != "" {
			t.Errorf("%s architectures (-want +got):\n%s", goarch, diff)
		}
	}
	if _, err := p.spec("riscv64"); err == nil {
		t.Error("a filter for riscv64, which the profile has no rules for")
	}
	s, err := seccompSpec(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != uint(syscall.EPERM) {
		t.Errorf("default = %s %v, want errno EPERM", s.DefaultAction, s.DefaultErrnoRet)
	}
	rules := map[string][]specs.LinuxSyscall{}
	for _, r := range s.Syscalls {
		for _, n := range r.Names {
			rules[n] = append(rules[n], r)
		}
	}
	for _, n := range seccompDenied {
		if len(rules[n]) != 0 {
			t.Errorf("%s has rules: %+v", n, rules[n])
		}
	}
	for _, n := range seccompAllowed {
		if rs := rules[n]; len(rs) != 1 || rs[0].Action != specs.ActAllow || len(rs[0].Args) != 0 {
			t.Errorf("%s: rules %+v, want one unconditional allow", n, rs)
		}
	}
	const nsFlags = syscall.CLONE_NEWNS | syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC |
		syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET
	enosys := uint(syscall.ENOSYS)
	wantConditional := map[string][]specs.LinuxSyscall{
		"clone":  {{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: nsFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}}},
		"clone3": {{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys}},
		"socket": {{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 40, Op: specs.OpNotEqual}}}},
	}
	for _, v := range []uint64{0, 8, 0x20000, 0x20008, 0xffffffff} {
		wantConditional["personality"] = append(wantConditional["personality"],
			specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}}})
	}
	for n, want := range wantConditional {
		if diff := cmp.Diff(want, rules[n]); diff != "" {
			t.Errorf("%s rules (-want +got):\n%s", n, diff)
		}
	}
}

func TestParseSeccompErrors(t *testing.T) {
	tests := []struct {
		name, json, wantErr string
	}{
		{"not JSON", `{`, "decoding seccomp profile"},
		{"unknown default", `{"defaultAction":"SCMP_ACT_MAYBE","architectures":{"amd64":[]}}`, "unknown default action"},
		{"no architectures", `{"defaultAction":"SCMP_ACT_ERRNO"}`, "no architectures"},
		{"rule without names", `{"defaultAction":"SCMP_ACT_ERRNO","architectures":{"amd64":[]},"syscalls":[{"action":"SCMP_ACT_ALLOW"}]}`, "names no system call"},
		{"unknown action", `{"defaultAction":"SCMP_ACT_ERRNO","architectures":{"amd64":[]},"syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}`, "unknown action"},
		{"unknown operator", `{"defaultAction":"SCMP_ACT_ERRNO","architectures":{"amd64":[]},"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"op":"SCMP_CMP_LIKE"}]}]}`, "bad argument condition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSeccomp([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestBuildSpecSeccomp(t *testing.T) {
	c := Config{RootFS: "/rootfs", Args: []string{"/bin/true"}}
	if s := buildSpec(&c, specMode{}); s.Linux.Seccomp == nil || len(s.Linux.Seccomp.Syscalls) == 0 {
		t.Errorf("no seccomp filter by default: %+v", s.Linux.Seccomp)
	}
	c.NoSeccomp = true
	if s := buildSpec(&c, specMode{}); s.Linux.Seccomp != nil {
		t.Errorf("seccomp filter with NoSeccomp")
	}
}

// TestSeccompRun makes the calls the filter refuses in a real container,
// and again without the filter, to show that the filter is what refuses
// those that would otherwise work.
func TestSeccompRun(t *testing.T) {
	requireRuntime(t)
	withFilter := runEscapeTry(t, false)
	want := map[string]string{}
	for name := range withFilter {
		want[name] = "EPERM"
	}
	want["clone3"] = "ENOSYS" // so that libc falls back to clone
	want["clone-plain"] = "ok"
	want["personality-query"] = "ok"
	if diff := cmp.Diff(want, withFilter); diff != "" {
		t.Errorf("with the filter (-want +got):\n%s", diff)
	}
	if len(withFilter) < 30 {
		t.Errorf("only %d attempts reported: %v", len(withFilter), withFilter)
	}

	without := runEscapeTry(t, true)
	for _, name := range []string{"clone-newuser", "keyctl", "add_key", "adjtimex", "personality-addr-no-randomize", "socket-vsock"} {
		if without[name] != "ok" {
			t.Errorf("without the filter %s = %s, want ok", name, without[name])
		}
	}
	for _, name := range []string{"clone3", "unshare-newuser", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "setns", "clock_settime"} {
		if without[name] == "EPERM" || without[name] == "" {
			t.Errorf("without the filter %s = %q, want another answer than EPERM", name, without[name])
		}
	}
	t.Logf("without the filter: %v", without)
}

func runEscapeTry(t *testing.T, noSeccomp bool) map[string]string {
	t.Helper()
	cfg := hostConfig(t, newTestDirs(t, testUID, testGID))
	cfg.NoSeccomp = noSeccomp
	cfg.Args = []string{escapeBin, "try"}
	var stdout, stderr bytes.Buffer
	cfg.Stdout, cfg.Stderr = &stdout, &stderr
	code, err := Run(context.Background(), cfg)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v (stderr %q)", code, err, stderr.String())
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		name, res, _ := strings.Cut(l, " ")
		got[name] = res
	}
	return got
}

// seccompWorkload is what ordinary build tools do, after checking that
// unshare is refused.
const seccompWorkload = `set -eu
refused() { if "$@" 2>/dev/null; then echo "ALLOWED: $*"; else echo "refused: $*"; fi; }
refused unshare -Ur true
refused unshare -m true
cd /tmp
printf 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello from go") }\n' > hello.go
go build -o hello-go hello.go && ./hello-go
printf '#include <stdio.h>\nint main(void) { puts("hello from c"); return 0; }\n' > hello.c
gcc -o hello-c hello.c && ./hello-c
python3 -c 'import json, subprocess, threading; print("hello from python", subprocess.run(["true"]).returncode)'
python3 -m pip --version >/dev/null && echo pip ok
node -e 'require("fs").readFile("/etc/passwd", (err) => console.log("hello from node", err === null))'
npm --version >/dev/null && echo npm ok
git init -q repo && cd repo && echo x > f && git add f && git -c user.name=k -c user.email=k@example.com commit -qm m && echo "git commits $(git rev-list --count HEAD)" && cd ..
tar czf repo.tgz repo && echo "tar entries $(tar tzf repo.tgz | wc -l | tr -d ' ')" >/dev/null && echo tar ok
curl --version >/dev/null && echo curl ok
echo "coreutils $(seq 3 | sort -r | tr '\n' ' ')"
`

// TestSeccompWorkload runs compilers, interpreters and tools under the
// filter: bash, go, gcc, python, pip, node, npm, git, tar, curl, coreutils.
func TestSeccompWorkload(t *testing.T) {
	requireRuntime(t)
	for _, noSeccomp := range []bool{false, true} {
		cfg := hostConfig(t, newTestDirs(t, testUID, testGID))
		cfg.NoSeccomp = noSeccomp
		cfg.Args = []string{"/bin/bash", "-c", seccompWorkload}
		if noSeccomp {
			cfg.Args = []string{"/bin/bash", "-c", "unshare -Ur true && echo unshare works"}
		}
		var stdout, stderr bytes.Buffer
		cfg.Stdout, cfg.Stderr = &stdout, &stderr
		code, err := Run(context.Background(), cfg)
		if err != nil || code != 0 {
			t.Fatalf("NoSeccomp %v: Run = %d, %v\nstdout:\n%s\nstderr:\n%s", noSeccomp, code, err, stdout.String(), stderr.String())
		}
		want := []string{
			"refused: unshare -Ur true", "refused: unshare -m true",
			"hello from go", "hello from c", "hello from python 0", "pip ok", "hello from node true",
			"npm ok", "git commits 1", "tar ok", "curl ok", "coreutils 3 2 1 ",
		}
		if noSeccomp {
			want = []string{"unshare works"}
		}
		if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")); diff != "" {
			t.Errorf("NoSeccomp %v: output (-want +got):\n%s\nstderr:\n%s", noSeccomp, diff, stderr.String())
		}
	}
}
