package sandbox

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultPidsLimit is the default of Limits.PidsLimit: plenty for parallel
// compilers, few enough to stop a fork bomb.
const DefaultPidsLimit = 4096

// MaxDefaultMemory caps DefaultMemory.
const MaxDefaultMemory = 8 << 30

// cpuPeriod is the CFS period CPUs is turned into a quota of (docker's).
const cpuPeriod = 100000

// cgroupParent is the cgroup (cgroupfs path) below which each container
// gets its own, named after its id; the runtime creates and removes it.
const cgroupParent = "/kiln"

// Limits are the cgroup limits of a run, with docker's meanings. They apply
// when kiln runs as root; rootless runs have no cgroup delegation here, so
// they run without limits (Run says so through Config.Warn).
type Limits struct {
	// PidsLimit caps the number of processes and threads; 0 means
	// DefaultPidsLimit, negative means no limit.
	PidsLimit int64
	// Memory caps memory in bytes, swap included where the host accounts
	// for it; a process that needs more is killed (exit code 137). 0 means
	// DefaultMemory(), negative means no limit.
	Memory int64
	// CPUs caps CPU time at this many CPUs' worth (1.5 = 150ms per 100ms);
	// 0 means no cap.
	CPUs float64
}

// DefaultLimits returns the limits a zero Limits stands for, for a CLI to
// show as flag defaults.
func DefaultLimits() Limits {
	return Limits{PidsLimit: DefaultPidsLimit, Memory: DefaultMemory()}
}

// DefaultMemory is half the host's physical memory, at most
// MaxDefaultMemory.
func DefaultMemory() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return MaxDefaultMemory
	}
	half := int64(si.Totalram) * int64(si.Unit) / 2
	return min(half, MaxDefaultMemory)
}

// withDefaults replaces zero fields by their defaults.
func (l Limits) withDefaults() Limits {
	if l.PidsLimit == 0 {
		l.PidsLimit = DefaultPidsLimit
	}
	if l.Memory == 0 {
		l.Memory = DefaultMemory()
	}
	return l
}

// resources turns l (with defaults applied) into the runtime spec's cgroup
// settings. swap says whether the host can limit memory plus swap, which is
// then set to the memory limit so the process cannot swap past it.
func (l Limits) resources(swap bool) *specs.LinuxResources {
	l = l.withDefaults()
	r := &specs.LinuxResources{}
	if l.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: &l.PidsLimit}
	}
	if l.Memory > 0 {
		r.Memory = &specs.LinuxMemory{Limit: &l.Memory}
		if swap {
			r.Memory.Swap = &l.Memory
		}
	}
	if l.CPUs > 0 {
		period := uint64(cpuPeriod)
		quota := max(int64(l.CPUs*cpuPeriod), 1000) // the kernel's minimum is 1ms
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	return r
}

// swapLimitable reports whether the host's memory cgroup can limit memory
// plus swap: memory.memsw.* (cgroup v1, swap accounting on) or
// memory.swap.max (v2, checked in kiln's own cgroup). It looks once.
var swapLimitable = sync.OnceValue(func() bool {
	const root = "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		_, err := os.Stat(filepath.Join(root, "memory", "memory.memsw.limit_in_bytes"))
		return err == nil
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			_, err := os.Stat(filepath.Join(root, p, "memory.swap.max"))
			return err == nil
		}
	}
	return false
})

// rootlessLimitsNotice is what Config.Warn is told on a rootless run.
const rootlessLimitsNotice = "sandbox: running rootless, without cgroup delegation: no pids, memory or CPU limits apply to the build container (run kiln as root to apply them)"
