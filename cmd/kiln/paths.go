package main

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
)

// cacheDir is kiln's cache root: $KILN_CACHE, else $XDG_CACHE_HOME/kiln,
// else ~/.cache/kiln.
func cacheDir() (string, error) {
	if d := os.Getenv("KILN_CACHE"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache dir: %w", err)
	}
	return filepath.Join(base, "kiln"), nil
}

// selfBinary returns this kiln binary's path, checked to be static: it is
// mounted into build containers whose root file system may lack any libc.
func selfBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the kiln binary: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("finding the kiln binary: %w", err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		return "", fmt.Errorf("reading the kiln binary %s: %w", exe, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked; build kiln static (CGO_ENABLED=0, as `make build` does) so it can run inside build containers", exe)
		}
	}
	return exe, nil
}
