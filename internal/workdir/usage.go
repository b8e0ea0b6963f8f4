package workdir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// DiskUsage is the disk space (allocated blocks) the tree at path takes:
// links are not followed, other file systems below it are not entered, a
// file with several hard links in the tree counts once, and entries that
// cannot be read are left out. A missing path takes 0.
func DiskUsage(path string) (int64, error) {
	root, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	rst, ok := root.Sys().(*syscall.Stat_t)
	if !ok {
		return root.Size(), nil
	}
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == path {
				return err
			}
			return nil // unreadable: left out
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if st.Dev != rst.Dev {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if st.Nlink > 1 && !d.IsDir() {
			k := inode{st.Dev, st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += DiskBytes(fi)
		return nil
	})
	return total, err
}

// DiskBytes is the disk space of one entry: its allocated blocks, or its
// size where the file system does not say.
func DiskBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// IsDigestHex says whether name is a sha256 digest in lower-case hex, as
// kiln names blobs and unpacked trees: a name that is not is none of
// kiln's and is left alone.
func IsDigestHex(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
