package create

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/export"
)

// memoFile holds, beside the app's cache, the layer fingerprints of its
// last image (see export.Memo).
const memoFile = "fingerprints.json"

// loadMemo reads the layer fingerprint memo kept beside the app's cache.
// Without one (a first build) every layer is made; an unreadable one is
// said and left aside.
func loadMemo(dir string, r reporter) export.Memo {
	p := filepath.Join(dir, memoFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var m export.Memo
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		r.warn("layer fingerprints %s: %v; making every layer again", p, err)
		return nil
	}
	return m
}

// saveMemo replaces the memo with the one of the image just written.
func saveMemo(dir string, m export.Memo, r reporter) {
	b, err := json.Marshal(m)
	if err == nil {
		tmp := filepath.Join(dir, memoFile+".tmp")
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, filepath.Join(dir, memoFile))
		}
	}
	if err != nil {
		r.warn("layer fingerprints not saved: %v", err)
	}
}

// cacheDirFor is the layer cache of one app image name.
func cacheDirFor(root, imageName string) string {
	sum := sha256.Sum256([]byte(imageName))
	return filepath.Join(root, "layers", hex.EncodeToString(sum[:8]))
}
