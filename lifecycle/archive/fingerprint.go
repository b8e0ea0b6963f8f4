package export

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Memo remembers, from one build to the next, which layer diffID a
// directory's state (its fingerprint) produced. A layer whose fingerprint
// is unchanged, and whose diffID the previous image has, is taken from the
// previous image without being tarred, hashed or compressed again.
type Memo map[string]string

// fingerprint summarises the files under root (all of them, or only the
// listed relative paths and their subtrees): names, types, modes, sizes,
// mtimes, owners and link targets, plus salt (what the layer is written
// with). Reading it costs one lstat per file, no file contents.
func fingerprint(root string, paths []string, salt string) (string, error) {
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
			uid, gid := owner(fi)
			fmt.Fprintf(h, "%s\x00%o\x00%d\x00%d\x00%d:%d\x00%s\x00", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), uid, gid, target)
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

// reusable returns the previous image's layer for fp, if the memo knows
// fp and the previous image holds that diffID.
func reusable(prev v1.Image, memo Memo, fp string) (v1.Layer, bool) {
	if prev == nil || memo == nil || fp == "" {
		return nil, false
	}
	d, ok := memo[fp]
	if !ok {
		return nil, false
	}
	h, err := v1.NewHash(d)
	if err != nil {
		return nil, false
	}
	l, err := prev.LayerByDiffID(h)
	if err != nil {
		return nil, false
	}
	return l, true
}
