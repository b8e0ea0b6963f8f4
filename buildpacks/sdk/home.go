package sdk

import (
	"os"
	"path/filepath"
)

// xdgDirs are the XDG base directories, relative to the home they
// default to.
var xdgDirs = map[string]string{
	"XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache",
	"XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state",
}

// WritableHome makes sure HOME and the XDG base directories are writable
// during a build: the build container's root file system (and with it the
// CNB user's home) is read-only, and tools an app's build runs (Astro,
// Next.js telemetry, npm, pip) write their config there. When HOME cannot
// be written it becomes <tmp>/kiln-home, which no image ships. It returns
// the variables it changed.
func WritableHome(getenv func(string) string, setenv func(k, v string) error) map[string]string {
	changed := map[string]string{}
	home := getenv("HOME")
	if home == "" || !writableDir(home) {
		home = filepath.Join(os.TempDir(), "kiln-home")
		if err := os.MkdirAll(home, 0o700); err != nil {
			return changed
		}
		changed["HOME"] = home
	}
	for k, rel := range xdgDirs {
		if v := getenv(k); v != "" && writableDir(v) {
			continue
		}
		d := filepath.Join(home, filepath.FromSlash(rel))
		if os.MkdirAll(d, 0o700) == nil {
			changed[k] = d
		}
	}
	for k, v := range changed {
		_ = setenv(k, v)
	}
	return changed
}

// writableDir reports whether a file can be created in dir (creating dir
// when it is missing and its parent allows).
func writableDir(dir string) bool {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false
	}
	f, err := os.CreateTemp(dir, ".kiln-write-test-*")
	if err != nil {
		return false
	}
	f.Close()
	return os.Remove(f.Name()) == nil
}
