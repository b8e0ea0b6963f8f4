package workspace

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-build/kiln/internal/archive"
)

// Options control Sync and Prepare. Owner and OnSkip mean what they mean
// to archive.CopyDir.
type Options struct {
	// Owner, when set, owns every entry of the workspace (this needs
	// root); otherwise new entries belong to the caller.
	Owner *archive.Owner
	// OnSkip is told about every source entry left out, as CopyDir tells
	// it, once the sync has finished; a non-nil return fails the sync.
	OnSkip func(hostPath string, reason error) error
	// Exclude leaves source entries out, as it does for CopyDir: an
	// excluded entry that the kept workspace holds is removed.
	Exclude func(rel string, isDir bool) bool
	// Warn is told, in one line, why a kept workspace was not used.
	Warn func(msg string)
}

// Stats count what a sync did to the workspace's entries.
type Stats struct {
	// Reused says whether a kept tree was synced (rather than the source
	// copied afresh).
	Reused bool
	// Kept entries were left as they were; Fixed ones got their owner, or
	// a directory its mode and time, set again; Copied ones were written
	// afresh; Removed ones were deleted.
	Kept, Fixed, Copied, Removed int
}

// wsError is a problem of the kept tree rather than of the source.
type wsError struct{ err error }

func (e *wsError) Error() string { return "the kept workspace: " + e.err.Error() }
func (e *wsError) Unwrap() error { return e.err }

type skipped struct {
	host   string
	reason error
}

type syncer struct {
	ctx              context.Context
	opts             Options
	srcPath, dstPath string
	src              *os.Root // symlink checks, made as CopyDir makes them
	old, m           *Manifest
	racy             int64 // source ctimes from here on are not recorded
	dev              uint64
	skips            []skipped
	seq              int
	stats            Stats
}

// Sync makes the tree dst, a workspace a previous sync (or a full copy)
// left and old describes, what archive.CopyDir(ctx, src, dst, opts) would
// make of an empty dst, and returns the manifest of the result. Entries
// whose source and workspace fingerprints both match old are kept (their
// owner set again when it is not opts.Owner); the rest is copied afresh or
// removed. An error that wraps no source problem is a problem of dst.
func Sync(ctx context.Context, src, dst string, old *Manifest, opts Options) (*Manifest, Stats, error) {
	s := &syncer{ctx: ctx, opts: opts, srcPath: src, dstPath: dst, old: old, m: NewManifest(),
		racy: time.Now().Add(-racyMargin).UnixNano()}
	sr, err := os.OpenRoot(src)
	if err != nil {
		return nil, s.stats, fmt.Errorf("copying: %w", err)
	}
	defer sr.Close()
	s.src = sr
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, s.stats, fmt.Errorf("copying %s: %w", src, err)
	}
	sd := os.NewFile(uintptr(sfd), src)
	defer sd.Close()
	sst, err := fstat(sd)
	if err != nil {
		return nil, s.stats, fmt.Errorf("copying %s: %w", src, err)
	}
	wd, wst, touched, err := openRoot(dst)
	if err != nil {
		return nil, s.stats, &wsError{err}
	}
	defer wd.Close()
	s.dev = wst.Dev
	if err := s.dir(".", sd, wd, sst, wst, false, touched); err != nil {
		return nil, s.stats, err
	}
	for _, k := range s.skips {
		if s.opts.OnSkip != nil {
			if err := s.opts.OnSkip(k.host, k.reason); err != nil {
				return nil, s.stats, fmt.Errorf("copying %s: %w", k.host, err)
			}
		}
	}
	s.stats.Reused = true
	return s.m, s.stats, nil
}

// openRoot opens the workspace root dst, a directory (not a link), and
// reports whether it had to make it accessible.
func openRoot(dst string) (*os.File, *unix.Stat_t, bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(dst, &st); err != nil {
		return nil, nil, false, &os.PathError{Op: "lstat", Path: dst, Err: err}
	}
	if !isDir(st.Mode) {
		return nil, nil, false, fmt.Errorf("%s is not a directory", dst)
	}
	parent, err := unix.Open(filepath.Dir(dst), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, false, &os.PathError{Op: "open", Path: filepath.Dir(dst), Err: err}
	}
	defer unix.Close(parent)
	touched, err := accessible(parent, filepath.Base(dst), &st)
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", dst, err)
	}
	d, err := openDirAt(parent, filepath.Base(dst), dst)
	return d, &st, touched, err
}

func (s *syncer) host(rel string) string { return filepath.Join(s.srcPath, filepath.FromSlash(rel)) }
func (s *syncer) shown(rel string) string {
	return filepath.Join(s.dstPath, filepath.FromSlash(rel))
}

func (s *syncer) wsErr(rel string, err error) error {
	return &wsError{fmt.Errorf("%s: %w", s.shown(rel), err)}
}

func (s *syncer) skip(host string, reason error) {
	s.skips = append(s.skips, skipped{host, reason})
}

// srcFP is the fingerprint recorded for a source entry: none when it
// changed too recently to be told apart from a change still to come.
func (s *syncer) srcFP(st *unix.Stat_t) srcFP {
	if st.Ctim.Nano() >= s.racy {
		return srcFP{}
	}
	return srcOf(st)
}

// unchanged says whether the manifest has rel with both fingerprints as
// they are now.
func (s *syncer) unchanged(rel string, sst, wst *unix.Stat_t) bool {
	e, ok := s.old.get(rel)
	return ok && e.src == srcOf(sst) && e.ws == wsOf(wst)
}

// sameAttrs says whether the workspace entry wst already has the mode and
// modification time CopyDir gives a copy of sst.
func sameAttrs(sst, wst *unix.Stat_t) bool {
	return typeOf(sst.Mode) == typeOf(wst.Mode) && sst.Mode&0o7777 == wst.Mode&0o7777 && sst.Mtim == wst.Mtim
}

// ownerOK says whether wst belongs to opts.Owner (always, without one).
func (s *syncer) ownerOK(wst *unix.Stat_t) bool {
	o := s.opts.Owner
	return o == nil || int(wst.Uid) == o.UID && int(wst.Gid) == o.GID
}

// record puts rel into the new manifest as the workspace entry name of
// wd now is.
func (s *syncer) record(rel string, wd *os.File, name string, sst *unix.Stat_t) error {
	wst, err := lstatAt(int(wd.Fd()), name)
	if err != nil {
		return s.wsErr(rel, err)
	}
	s.m.put(rel, s.srcFP(sst), wsOf(wst))
	return nil
}

// escapes returns why the source symlink rel -> target leaves the source
// tree, or nil: the rules (and reasons) of archive.CopyDir.
func (s *syncer) escapes(rel, target string) error { return archive.SymlinkEscapes(s.src, rel, target) }
