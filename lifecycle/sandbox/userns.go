package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kiln-build/kiln/internal/flock"
)

// IDsPerRange is how many ids a build's user namespace maps: container ids
// 0 to IDsPerRange-1.
const IDsPerRange = 65536

// Where kiln's host id ranges come from when /etc/subuid and /etc/subgid
// have no entry for user IDRangeUser: DefaultIDRangeSlots slots of
// IDsPerRange ids from DefaultIDRangeBase, ids no account uses.
const (
	IDRangeUser         = "kiln"
	DefaultIDRangeBase  = 1 << 31
	DefaultIDRangeSlots = 1024
)

// idLockDir holds one lock file per slot; a slot is taken while a process
// holds an flock on its file, so the kernel frees it when kiln dies.
const idLockDir = "/run/kiln/userns"

// IDRange is a block of IDsPerRange host uids and gids reserved for one
// build: as root, the build's containers get a user namespace in which
// container id n is host id base+n, so no container id is a real host id
// and concurrent builds never share ids. Reserve one with ReserveIDs, chown
// the build's writable directories to HostUID and HostGID of the process's
// ids, pass it as Config.IDs to each Run of the build, and Release it.
type IDRange struct {
	uidBase, gidBase uint32
	slot             int
	lock             *os.File
}

// idPool is where ranges are carved from.
type idPool struct {
	uidBase, gidBase uint32
	slots            int
	lockDir          string
}

// ReserveIDs reserves the lowest free range of host ids for a build, waiting
// while all are taken until ctx is done. It needs root. The ranges come from
// the entries for user "kiln" in /etc/subuid and /etc/subgid if there are
// any (each holds as many ranges as it has IDsPerRange ids), else from
// DefaultIDRangeBase.
func ReserveIDs(ctx context.Context) (*IDRange, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("sandbox: reserving a host id range needs root (rootless runs map the caller's own ids)")
	}
	pool, err := systemIDPool()
	if err != nil {
		return nil, err
	}
	return pool.reserve(ctx)
}

// systemIDPool takes kiln's ranges from /etc/subuid and /etc/subgid.
func systemIDPool() (idPool, error) {
	pool := idPool{lockDir: idLockDir}
	files, err := readSubIDFiles()
	if err != nil {
		return pool, err
	}
	var uidSlots, gidSlots int
	pool.uidBase, uidSlots = poolRange(files.uids)
	pool.gidBase, gidSlots = poolRange(files.gids)
	pool.slots = min(uidSlots, gidSlots)
	return pool, nil
}

// poolRange returns the first range of user IDRangeUser that holds at least
// one slot, or the default.
func poolRange(ranges []subIDRange) (base uint32, slots int) {
	for _, r := range ranges {
		if r.owner == IDRangeUser && r.count >= IDsPerRange {
			return r.start, int(r.count / IDsPerRange)
		}
	}
	return DefaultIDRangeBase, DefaultIDRangeSlots
}

// reserve takes the lowest slot whose lock file it can flock.
func (p idPool) reserve(ctx context.Context) (*IDRange, error) {
	if err := os.MkdirAll(p.lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: creating %s: %w", p.lockDir, err)
	}
	for {
		for slot := range p.slots {
			f, err := tryLockSlot(p.lockDir, slot)
			if err != nil {
				return nil, err
			}
			if f != nil {
				off := uint32(slot) * IDsPerRange
				return &IDRange{uidBase: p.uidBase + off, gidBase: p.gidBase + off, slot: slot, lock: f}, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("sandbox: waiting for a free host id range (all %d in use): %w", p.slots, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// tryLockSlot returns the locked lock file of slot, or nil if another
// reservation holds it.
func tryLockSlot(dir string, slot int) (*os.File, error) {
	f, err := flock.TryLock(filepath.Join(dir, strconv.Itoa(slot)+".lock"), true)
	if errors.Is(err, flock.ErrBusy) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: id range: %w", err)
	}
	return f, nil
}

// HostUID returns the host uid behind container uid u, or -1 when u is not
// mapped. On a nil range it returns u: no mapping.
func (r *IDRange) HostUID(u uint32) int {
	if r == nil {
		return int(u)
	}
	if u >= IDsPerRange {
		return -1
	}
	return int(r.uidBase + u)
}

// HostGID returns the host gid behind container gid g, or -1 when g is not
// mapped. On a nil range it returns g: no mapping.
func (r *IDRange) HostGID(g uint32) int {
	if r == nil {
		return int(g)
	}
	if g >= IDsPerRange {
		return -1
	}
	return int(r.gidBase + g)
}

// String describes the range for logs.
func (r *IDRange) String() string {
	if r == nil {
		return "no id range"
	}
	return fmt.Sprintf("host uids %d-%d, gids %d-%d (slot %d)",
		r.uidBase, r.uidBase+IDsPerRange-1, r.gidBase, r.gidBase+IDsPerRange-1, r.slot)
}

// Release gives the range back. Release on nil or twice does nothing.
func (r *IDRange) Release() error {
	if r == nil || r.lock == nil {
		return nil
	}
	err := r.lock.Close() // closing drops the flock
	r.lock = nil
	if err != nil {
		return fmt.Errorf("sandbox: releasing id range slot %d: %w", r.slot, err)
	}
	return nil
}

// mappings returns the user namespace's id maps for the runtime spec.
func (r *IDRange) mappings() (uids, gids []specs.LinuxIDMapping) {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: r.uidBase, Size: IDsPerRange}},
		[]specs.LinuxIDMapping{{ContainerID: 0, HostID: r.gidBase, Size: IDsPerRange}}
}

// check checks that the process's ids fit into a range and, when kiln
// itself runs in a user namespace, that the range's host ids exist there.
func (r *IDRange) check(cfg *Config) error {
	if r.lock == nil {
		return errors.New("sandbox: Config.IDs was released")
	}
	for _, id := range append([]uint32{cfg.UID, cfg.GID}, cfg.AdditionalGIDs...) {
		if id >= IDsPerRange {
			return fmt.Errorf("sandbox: id %d is outside the %d ids a build's user namespace maps", id, IDsPerRange)
		}
	}
	maps, err := ownIDMaps()
	if err != nil {
		return err
	}
	for i, f := range []struct {
		file string
		base uint32
	}{{"/proc/self/uid_map", r.uidBase}, {"/proc/self/gid_map", r.gidBase}} {
		if !mapCovers(maps[i], f.base, IDsPerRange) {
			return fmt.Errorf("sandbox: host ids %d-%d are not mapped in kiln's own user namespace (%s); give user %s a range in %s and %s that is",
				f.base, f.base+IDsPerRange-1, f.file, IDRangeUser, subUIDFile, subGIDFile)
		}
	}
	return nil
}

// ownIDMaps returns /proc/self/uid_map and gid_map, read once: a process's
// maps never change.
var ownIDMaps = sync.OnceValues(func() ([2]string, error) {
	var maps [2]string
	for i, file := range []string{"/proc/self/uid_map", "/proc/self/gid_map"} {
		b, err := os.ReadFile(file)
		if err != nil {
			return maps, fmt.Errorf("sandbox: reading %s: %w", file, err)
		}
		maps[i] = string(b)
	}
	return maps, nil
})

// mapCovers reports whether one line of a /proc/self/uid_map-style map holds
// the ids from base to base+n-1 of the reader's namespace (the first column).
func mapCovers(m string, base, n uint32) bool {
	for _, line := range strings.Split(m, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		inside, err1 := strconv.ParseUint(f[0], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 33)
		if err1 == nil && err2 == nil && uint64(base) >= inside && uint64(base)+uint64(n) <= inside+count {
			return true
		}
	}
	return false
}
