package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Fingerprint summarises the files under root (all of them, or only the
// listed relative paths and their subtrees): names, types, modes, sizes,
// mtimes, owners and link targets, plus salt (what the layer is written
// with). Reading it costs one lstat per file, no file contents.
func Fingerprint(root string, paths []string, salt string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "kiln-layer-fingerprint/1\x00%s\x00", salt)
	walk := func(start string) error {
		return filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			target := ""
			if fi.Mode()&fs.ModeSymlink != 0 {
				target, _ = os.Readlink(p)
			}
			uid, gid := statOwner(fi)
			writeTreeRecord(h, rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), int(uid), int(gid), target)
			return nil
		})
	}
	if paths == nil {
		if err := walk(root); err != nil {
			return "", err
		}
	} else {
		sorted := append([]string(nil), paths...)
		sort.Strings(sorted)
		for _, p := range sorted {
			if err := walk(filepath.Join(root, p)); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeTreeRecord writes one path's record of a Fingerprint (and of
// Listing.TreeFingerprint, which must give the same sum).
func writeTreeRecord(h io.Writer, rel string, mode fs.FileMode, size, mtime int64, uid, gid int, target string) {
	fmt.Fprintf(h, "%s\x00%o\x00%d\x00%d\x00%d:%d\x00%s\x00", rel, mode, size, mtime, uid, gid, target)
}
