package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrNoSubIDs is wrapped by Run's error when a rootless run needs a
// subordinate id range the caller does not have.
var ErrNoSubIDs = errors.New("no subordinate id range")

// Files that list subordinate ids, read by newuidmap and newgidmap.
const (
	subUIDFile = "/etc/subuid"
	subGIDFile = "/etc/subgid"
)

// subIDRange is one line of /etc/subuid or /etc/subgid: owner (a user or
// group name, or a numeric id) may map count ids from start.
type subIDRange struct {
	owner        string
	start, count uint32
}

// parseSubIDs reads the "owner:start:count" lines of a subordinate id file.
// Blank lines and comments are skipped, and so are malformed lines and
// ranges that would run past 2^32, as newuidmap would not honour them either.
func parseSubIDs(data []byte) []subIDRange {
	var out []subIDRange
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if len(parts) != 3 || parts[0] == "" {
			continue
		}
		start, err1 := strconv.ParseUint(parts[1], 10, 32)
		count, err2 := strconv.ParseUint(parts[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 || start+count > 1<<32 {
			continue
		}
		out = append(out, subIDRange{owner: parts[0], start: uint32(start), count: uint32(count)})
	}
	return out
}

// findSubID returns the start of the first range owned by name or by the
// numeric id that holds at least need ids.
func findSubID(ranges []subIDRange, name string, id uint32, need uint32) (uint32, bool) {
	num := strconv.FormatUint(uint64(id), 10)
	for _, r := range ranges {
		if (r.owner == name || r.owner == num) && r.count >= need {
			return r.start, true
		}
	}
	return 0, false
}

// idMap maps count ids from inside (in the namespace) to outside (on the host).
type idMap struct {
	inside, outside, count uint32
}

// mapArgs formats maps as newuidmap and newgidmap take them after the pid.
func mapArgs(maps []idMap) []string {
	var out []string
	for _, m := range maps {
		out = append(out,
			strconv.FormatUint(uint64(m.inside), 10),
			strconv.FormatUint(uint64(m.outside), 10),
			strconv.FormatUint(uint64(m.count), 10))
	}
	return out
}

// subIDs is what the mapping needs to know about the caller.
// newuidmap and newgidmap both look ranges up by the calling user's name or
// numeric uid.
type subIDs struct {
	user       string       // the caller's user name
	hostUID    uint32       // effective uid on the host
	hostGID    uint32       // effective gid on the host
	uids, gids []subIDRange // the caller's lines of /etc/subuid and /etc/subgid
}

// userNSMaps computes the id maps of a rootless run's user namespace. The
// host's effective uid appears as uid and its gid as gid, so the process owns
// what the caller owns. The runtime runs as root in the namespace, so a
// non-zero uid or gid needs one subordinate id for root; each supplementary
// group takes one more subordinate gid.
func userNSMaps(s subIDs, uid, gid uint32, extra []uint32) (uids, gids []idMap, err error) {
	if uid == 0 {
		uids = []idMap{{0, s.hostUID, 1}}
	} else {
		start, ok := findSubID(s.uids, s.user, s.hostUID, 1)
		if !ok {
			return nil, nil, fmt.Errorf("rootless sandbox: running as uid %d needs a subordinate uid range for user %s (uid %d) in %s for the runtime's root inside the user namespace (add one with usermod --add-subuids): %w",
				uid, s.user, s.hostUID, subUIDFile, ErrNoSubIDs)
		}
		uids = []idMap{{0, start, 1}, {uid, s.hostUID, 1}}
	}

	var groups []uint32
	for _, g := range extra {
		if g != gid && g != 0 && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	needSub := uint32(len(groups))
	if gid != 0 {
		needSub++
	}
	if needSub == 0 {
		return uids, []idMap{{0, s.hostGID, 1}}, nil
	}
	start, ok := findSubID(s.gids, s.user, s.hostUID, needSub)
	if !ok {
		return nil, nil, fmt.Errorf("rootless sandbox: running as gid %d with %d supplementary groups needs a range of %d subordinate gids for user %s (uid %d) in %s (add one with usermod --add-subgids): %w",
			gid, len(groups), needSub, s.user, s.hostUID, subGIDFile, ErrNoSubIDs)
	}
	next := start
	if gid == 0 {
		gids = []idMap{{0, s.hostGID, 1}}
	} else {
		gids = []idMap{{0, next, 1}, {gid, s.hostGID, 1}}
		next++
	}
	for _, g := range groups {
		gids = append(gids, idMap{g, next, 1})
		next++
	}
	return uids, gids, nil
}

// subIDFiles are the ranges of /etc/subuid and /etc/subgid.
type subIDFiles struct{ uids, gids []subIDRange }

// readSubIDFiles reads /etc/subuid and /etc/subgid, once per process.
var readSubIDFiles = sync.OnceValues(func() (f subIDFiles, err error) {
	if f.uids, err = readSubIDs(subUIDFile); err != nil {
		return f, fmt.Errorf("sandbox: %w", err)
	}
	if f.gids, err = readSubIDs(subGIDFile); err != nil {
		return f, fmt.Errorf("sandbox: %w", err)
	}
	return f, nil
})

// readSubIDs reads the caller's subordinate id files; a missing file means
// no ranges.
func readSubIDs(file string) ([]subIDRange, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return parseSubIDs(b), nil
}
