package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// loadLauncher returns the launcher binary to put into app images.
func loadLauncher() ([]byte, error) {
	if p := os.Getenv("KILN_LAUNCHER"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading launcher from $KILN_LAUNCHER: %w", err)
		}
		return b, nil
	}
	if len(launcherBinary) > 0 {
		return launcherBinary, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the launcher: %w", err)
	}
	p := filepath.Join(filepath.Dir(exe), "launcher")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("this kiln has no embedded launcher and none at %s (build kiln with `make build`): %w", p, err)
	}
	return b, nil
}
