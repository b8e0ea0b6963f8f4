package create

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/launchcheck"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// checkLaunch fails the build when a process of the image about to be
// exported could not start in it (a missing command, #! interpreter or
// shared library): a build failure naming the process and the fix, not a
// green build whose image never serves.
func (j *job) checkLaunch(ctx context.Context) error {
	err := launchcheck.Check(ctx, launchcheck.Options{
		RunImage:  j.run.img,
		IndexDir:  filepath.Join(j.o.CacheDir, "launchcheck"),
		LayersDir: j.w.layers, AppDir: j.w.app,
		LayersPath: LayersPath, AppPath: AppPath,
		Metadata: j.md,
	})
	var le *launchcheck.Error
	switch {
	case errors.As(err, &le):
		return failure.New("build", failure.BuildError, err)
	case err != nil:
		// the check could not run (an unreadable run image layer): the
		// export that follows reports that with its own words
		j.report("build").warn("the launch check did not run: %v", err)
	}
	return nil
}
