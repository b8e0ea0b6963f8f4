// Command escape tries what the sandbox's seccomp filter must refuse, and
// what its limits must stop. The tests build it statically into a root file
// system.
//
//	escape try         one line per attempt: "NAME ok" or "NAME ERRNO"
//	escape alloc MIB   touch MIB mebibytes of memory, then print "allocated"
//	escape forks N     start /bin/sleep 30 N times, kill them, print "started S failed F"
//	escape nop         exit 0
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: escape try|alloc MIB|nop")
	}
	switch os.Args[1] {
	case "try":
		for _, a := range attempts() {
			fmt.Println(a.name, result(a.call()))
		}
	case "alloc":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("allocated")
	case "forks":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		forks(n)
	case "nop":
	default:
		fail("unknown command " + os.Args[1])
	}
}

// forks starts n sleeps, counting the starts that fail, then kills them.
func forks(n int) {
	var pids []int
	failed := 0
	for range n {
		pid, err := syscall.ForkExec("/bin/sleep", []string{"sleep", "30"}, &syscall.ProcAttr{})
		if err != nil {
			failed++
			continue
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
	}
	fmt.Printf("started %d failed %d\n", len(pids), failed)
}

type attempt struct {
	name string
	call func() syscall.Errno
}

// attempts lists the calls, with arguments that make each harmless, or a
// different failure than EPERM, where no filter stops it.
func attempts() []attempt {
	str := func(s string) uintptr { p, _ := syscall.BytePtrFromString(s); return uintptr(unsafe.Pointer(p)) }
	raw := func(nr uintptr, args ...uintptr) func() syscall.Errno {
		return func() syscall.Errno {
			a := append(args, 0, 0, 0, 0, 0, 0)
			_, _, e := syscall.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
			return e
		}
	}
	const keySpecProcessKeyring = ^uintptr(1) // -2
	return append([]attempt{
		{"clone-newuser", spawn(syscall.CLONE_NEWUSER)},
		{"clone-newns", spawn(syscall.CLONE_NEWNS)},
		{"clone-plain", spawn(0)},
		{"clone3", raw(sysClone3, 0, 0)},
		{"unshare-newuser", raw(syscall.SYS_UNSHARE, syscall.CLONE_NEWUSER)},
		{"setns", raw(sysSetns, ^uintptr(0), 0)},
		{"mount", raw(syscall.SYS_MOUNT, str("none"), str("/tmp"), str("tmpfs"), 0, 0)},
		{"umount2", raw(syscall.SYS_UMOUNT2, str("/tmp"), 0)},
		{"pivot_root", raw(syscall.SYS_PIVOT_ROOT, str("/"), str("/"))},
		{"keyctl", raw(syscall.SYS_KEYCTL, 0, keySpecProcessKeyring, 1)},
		{"add_key", raw(syscall.SYS_ADD_KEY, str("user"), str("kiln-test"), str("x"), 1, keySpecProcessKeyring)},
		{"request_key", raw(syscall.SYS_REQUEST_KEY, str("user"), str("kiln-none"), 0, 0)},
		{"bpf", raw(sysBpf, 0, 0, 0)},
		{"perf_event_open", raw(syscall.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0)},
		{"userfaultfd", raw(sysUserfaultfd, ^uintptr(0))},
		{"io_uring_setup", raw(sysIoUringSetup, 1, 0)},
		{"fsopen", raw(sysFsopen, str("tmpfs"), 0)},
		{"open_tree", raw(sysOpenTree, ^uintptr(0), 0, 0)},
		{"open_by_handle_at", raw(sysOpenByHandleAt, ^uintptr(0), 0, 0)},
		{"name_to_handle_at", raw(sysNameToHandleAt, ^uintptr(0), 0, 0, 0, 0)},
		{"kexec_load", raw(syscall.SYS_KEXEC_LOAD, 0, 0, 0, 0)},
		{"init_module", raw(syscall.SYS_INIT_MODULE, 0, 0, 0)},
		{"delete_module", raw(syscall.SYS_DELETE_MODULE, str("kiln-none"), 0)},
		{"swapon", raw(syscall.SYS_SWAPON, str("/tmp/none"), 0)},
		{"reboot", raw(syscall.SYS_REBOOT, 0, 0, 0, 0)},
		{"acct", raw(syscall.SYS_ACCT, 0)},
		{"settimeofday", raw(syscall.SYS_SETTIMEOFDAY, 0, 0)},
		{"clock_settime", raw(syscall.SYS_CLOCK_SETTIME, 0, 0)},
		{"adjtimex", adjtimex},
		{"quotactl", raw(syscall.SYS_QUOTACTL, 0, 0, 0, 0)},
		{"personality-addr-no-randomize", personality(0x0040000)},
		{"personality-query", personality(0xffffffff)},
		{"socket-vsock", raw(syscall.SYS_SOCKET, 40, syscall.SOCK_STREAM, 0)},
	}, archAttempts(raw)...)
}

// spawn starts this program again with clone flags.
func spawn(flags uintptr) func() syscall.Errno {
	return func() syscall.Errno {
		pid, err := syscall.ForkExec("/proc/self/exe", []string{"escape", "nop"}, &syscall.ProcAttr{
			Sys: &syscall.SysProcAttr{Cloneflags: flags},
		})
		if err != nil {
			return err.(syscall.Errno)
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
		return 0
	}
}

func adjtimex() syscall.Errno {
	var buf [256]byte // struct timex with modes 0: a read
	_, _, e := syscall.Syscall(syscall.SYS_ADJTIMEX, uintptr(unsafe.Pointer(&buf[0])), 0, 0)
	return e
}

// personality sets persona p, or queries it, and restores the old one.
func personality(p uintptr) func() syscall.Errno {
	return func() syscall.Errno {
		old, _, e := syscall.Syscall(syscall.SYS_PERSONALITY, p, 0, 0)
		if e == 0 && p != 0xffffffff {
			syscall.Syscall(syscall.SYS_PERSONALITY, old, 0, 0)
		}
		return e
	}
}

func result(e syscall.Errno) string {
	names := map[syscall.Errno]string{
		0: "ok", syscall.EPERM: "EPERM", syscall.ENOSYS: "ENOSYS", syscall.EINVAL: "EINVAL",
		syscall.EFAULT: "EFAULT", syscall.EBADF: "EBADF", syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES",
		syscall.EAFNOSUPPORT: "EAFNOSUPPORT", syscall.ENOKEY: "ENOKEY", syscall.E2BIG: "E2BIG",
	}
	if n, ok := names[e]; ok {
		return n
	}
	return "errno" + strconv.Itoa(int(e))
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "escape:", msg)
	os.Exit(2)
}
