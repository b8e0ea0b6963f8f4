package fsutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Move renames src to dst, copying and removing when they are on
// different file systems. dst must not exist.
func Move(src, dst string) error {
	err := os.Rename(src, dst)
	if err == nil {
		return nil
	}
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(le.Err, syscall.EXDEV) {
		return fmt.Errorf("moving %s to %s: %w", src, dst, err)
	}
	if err := CopyTree(src, dst); err != nil {
		return err
	}
	if err := os.RemoveAll(src); err != nil {
		return fmt.Errorf("removing %s after copying it: %w", src, err)
	}
	return nil
}

// CopyTree copies the directory src to dst (which must not exist),
// keeping symbolic links as links and permission bits.
func CopyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("reading link %s: %w", p, err)
			}
			if err := os.Symlink(link, target); err != nil {
				return fmt.Errorf("creating link %s: %w", target, err)
			}
		case info.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()|0o700); err != nil {
				return fmt.Errorf("creating %s: %w", target, err)
			}
		case info.Mode().IsRegular():
			if err := CopyFile(p, target, info.Mode().Perm()); err != nil {
				return err
			}
		}
		return nil
	})
}

// CopyFile copies the regular file src to dst, which must not exist, with
// permission bits perm (at least owner read and write).
func CopyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm|0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}

// HashFiles returns the hex SHA-256 over the names and contents of the
// given files; a missing file counts as absent (its name is hashed with a
// marker), so that adding a lockfile changes the hash.
func HashFiles(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00", filepath.Base(p))
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			h.Write([]byte("absent\x00"))
			continue
		}
		if err != nil {
			return "", fmt.Errorf("opening %s: %w", p, err)
		}
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", p, err)
		}
		fmt.Fprintf(h, "\x00%d\x00", n)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FileSHA256 returns the hex SHA-256 of the contents of the file p.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("opening %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// IsFile reports whether p is a regular file (after following links).
func IsFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// IsDir reports whether p is a directory (following symbolic links).
func IsDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Symlink makes link point at target, replacing whatever link is.
func Symlink(target, link string) error {
	if err := os.RemoveAll(link); err != nil {
		return fmt.Errorf("removing %s: %w", link, err)
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("linking %s to %s: %w", link, target, err)
	}
	return nil
}
