package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/archive"
)

// Unpack extracts img's root file system into <dir>/<digest hex> unless it
// is there already, and returns that path. The tree is built in a temp dir
// and renamed into place, so a reader never sees half of one; a lock keeps
// two kiln processes from unpacking the same image at once.
func Unpack(ctx context.Context, img v1.Image, dir string, log io.Writer) (string, error) {
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	dest := filepath.Join(dir, digest.Hex)
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(dest+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", dest, err)
	}
	defer os.Remove(dest + ".lock")
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	if log != nil {
		fmt.Fprintf(log, "Unpacking image %s (once; reused by later builds)\n", digest.String()[:19])
	}
	tmp, err := os.MkdirTemp(dir, ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := archive.ExtractImage(ctx, img, tmp, archive.ExtractOptions{PreserveOwner: os.Geteuid() == 0}); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dest); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("moving unpacked image into %s: %w", dest, err)
	}
	return dest, nil
}
