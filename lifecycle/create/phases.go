package create

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/buildsbom"
	"github.com/kiln-build/kiln/internal/cache"
	"github.com/kiln-build/kiln/internal/export"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// restore opens the app's layer cache and puts back the cached layers and
// the previous image's layer metadata of every buildpack they name: the
// group is not known yet (detect and build share one container), so the
// container's driver removes the dirs of the buildpacks detect does not
// choose (j.restored) before build runs.
func (j *job) restore(ctx context.Context) error {
	r := j.report("restore")
	c, err := j.openCache(ctx)
	if err != nil {
		return failure.New("restore", failure.RestoreError, err)
	}
	j.cache = c
	j.onClose(j.closeCache)
	if j.o.ClearCache {
		if err := c.Clear(); err != nil {
			return failure.New("restore", failure.RestoreError, err)
		}
	}
	restored, err := c.Restore(ctx, cache.RestoreOptions{
		LayersDir: j.w.layers, LayersPrefix: layersRel,
		AnyBuildpack: true, Previous: j.prevMD, Owner: j.own,
		Warn: r.warn,
	})
	if err != nil {
		return failure.New("restore", failure.RestoreError, err)
	}
	// No container has run yet: the layers dir holds what restore wrote.
	entries, err := os.ReadDir(j.w.layers)
	if err != nil {
		return failure.New("restore", failure.RestoreError, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			j.restored = append(j.restored, e.Name())
		}
	}
	if len(restored.Contents) > 0 {
		r.step("RESTORED %s", strings.Join(restored.Contents, ", "))
	}
	if len(restored.MetadataOnly) > 0 {
		r.step("RESTORED METADATA %s", strings.Join(restored.MetadataOnly, ", "))
	}
	return nil
}

// openCache locks the app's cache: a dir under CacheDir, or with
// CacheImage a registry image (which needs *imageio.IO as Images).
func (j *job) openCache(ctx context.Context) (*cache.Cache, error) {
	var opts []cache.Option
	if j.o.CacheImage != "" {
		iio, ok := j.images.(*imageio.IO)
		if r, isReg := j.images.(registryIO); isReg {
			iio, ok = r.RegistryIO(), true
		}
		if !ok {
			return nil, fmt.Errorf("cache image %s: the build's image access (%T) cannot reach a registry", j.o.CacheImage, j.images)
		}
		opts = append(opts, cache.WithImageFor(iio, j.o.CacheImage, j.run.target.Arch, j.run.target.ArchVariant))
	}
	return cache.Open(ctx, cacheDirFor(j.o.CacheDir, j.o.cacheKey()), opts...)
}

// closeCache releases the cache. A build that ends before saving it gives
// back the layer trees it took, so the next build does not lose them
// (GiveBack itself refuses a tree behind a link the build planted).
func (j *job) closeCache() {
	r := j.report("cache")
	if !j.saved {
		if err := j.cache.GiveBack(); err != nil {
			r.warn("cache: %v; the next build makes those layers again", err)
		}
	}
	if err := j.cache.Close(); err != nil {
		r.warn("cache: releasing its lock: %v", err)
	}
}

// detectBuild runs detect and then build in one build container (one
// container start less than a container per phase), then reads the group
// detect chose and the metadata build wrote. The container's driver
// prints "===> BUILDING" between the two; it becomes the build step.
func (j *job) detectBuild(ctx context.Context) error {
	if len(j.b.OrderExtensions) > 0 {
		return j.detectGenerateBuild(ctx)
	}
	j.report("detect").step("DETECTING")
	args := []string{KilnBinPath, "phase", "detect-build", "--order", OrderPath}
	for _, name := range j.restored {
		args = append(args, "--restored", name)
	}
	stdout := newStepSplitter(j.log, Event{Phase: "build", Kind: Step, Message: "BUILDING"})
	code, err := j.cb.runTo(ctx, "detect", append(args, j.cb.args...), stdout)
	stdout.Flush()
	if err != nil {
		return failure.New(j.failedPhase(code), failure.SandboxUnavailable, err)
	}
	if code != 0 {
		return j.phaseFailure(code)
	}
	return j.readBuild()
}

// readBuild reads what the build container left: the detected group and
// the metadata build wrote.
func (j *job) readBuild() error {
	if err := j.out.check("build", failure.BuildError); err != nil {
		return err
	}
	group, err := j.out.group()
	if err != nil {
		return failure.New("detect", failure.DetectError, err)
	}
	j.group = group
	// Restore ran before the group was known: the cache's journal learns
	// it now, so a kiln killed from here on has its build saved.
	if err := j.cache.Detected(j.w.layers, group); err != nil {
		return failure.New("build", failure.BuildError, err)
	}
	md, err := j.out.metadata()
	if err != nil {
		return failure.New("build", failure.BuildError, err)
	}
	j.md = md
	if j.o.KeepBuildSBOM {
		if j.bsbom, err = buildsbom.Read(j.out.layers, groupIDs(group)); err != nil {
			return failure.New("build", failure.BuildError, err)
		}
	}
	return nil
}

func groupIDs(group []descriptor.GroupEntry) []string {
	ids := make([]string, len(group))
	for i, g := range group {
		ids[i] = g.ID
	}
	return ids
}

// failedPhase says which phase an exit code of the detect-build
// container comes from: the codes of detect's band are detect's; another
// code is build's once detect wrote its group, else detect's.
func (j *job) failedPhase(code int) string {
	switch code {
	case failure.DetectNoGroup, failure.DetectError:
		return "detect"
	case failure.BuildpackFailed, failure.BuildError:
		return "build"
	}
	if _, err := j.out.layers.Lstat(descriptor.GroupFile); err == nil {
		return "build"
	}
	return "detect"
}

// phaseFailure is the failure of a detect-build container that exited
// with code: its phase's, with the message the phase left, and a code
// kept within the phase's band.
func (j *job) phaseFailure(code int) error {
	phase := j.failedPhase(code)
	errFile := DetectErrorRel
	if phase == "build" {
		errFile = BuildErrorRel
	}
	msg := fmt.Sprintf("the %s phase failed with exit code %d (see the output above)", phase, code)
	if s := j.out.errorText(errFile); s != "" {
		msg = s
	}
	switch {
	case phase == "detect" && code != failure.DetectNoGroup && code != failure.DetectError:
		code = failure.DetectError
	case phase == "build" && code != failure.BuildpackFailed:
		code = failure.BuildError
	}
	return failure.New(phase, code, errors.New(msg))
}

// export makes the app image on the run image and writes it to Output.
func (j *job) export(ctx context.Context) error {
	r := j.report("export")
	r.step("EXPORTING")
	if j.run.publish {
		// The app's label names the run image there: it goes first.
		if err := j.images.Write(ctx, imageio.Location{Kind: imageio.Registry, Name: j.runPushName(ctx)}, j.run.img); err != nil {
			return failure.New("export", failure.ExportError, fmt.Errorf("publishing the run image: %w", err))
		}
		r.step("PUBLISHED RUN IMAGE %s", j.run.ref)
	}
	res, err := export.Export(ctx, export.Options{
		RunImage:          j.run.img,
		RunImageInfo:      labels.RunImage{Image: j.run.name, Mirrors: j.run.mirrors},
		RunImageReference: j.run.ref,
		LayersDir:         j.w.layers, AppDir: j.w.app,
		LayersPath: LayersPath, AppPath: AppPath,
		Group:           j.group,
		Extensions:      j.extensions,
		Metadata:        j.md,
		Launcher:        j.o.Launcher,
		LauncherVersion: j.o.LauncherVersion,
		UID:             j.b.UID, GID: j.b.GID,
		ModTime:        j.modTime,
		DefaultProcess: j.o.DefaultProcess,
		Project:        j.o.Project,
		Builder:        builderLabel(j.o.Builder, j.b.Digest),
		Previous:       j.previous,
		Memo:           loadMemo(j.cache.Dir(), r),
		TempDir:        j.w.tmp,
		Log:            infoLines(j.log, "export"),
	})
	if err != nil {
		return failure.New("export", failure.ExportError, err)
	}
	if err := j.images.Write(ctx, j.o.Output, res.Image); err != nil {
		return failure.New("export", failure.ExportError, err)
	}
	digest, err := res.Image.Digest()
	if err != nil {
		return failure.New("export", failure.ExportError, fmt.Errorf("reading the image digest: %w", err))
	}
	r.step("IMAGE %s@%s (%s)", j.o.Name, digest, j.o.Output.Kind)
	saveMemo(j.cache.Dir(), res.Memo, r)
	j.result = &Result{Image: res.Image, Digest: digest, Output: j.o.Output, BuildSBOM: j.bsbom}
	j.exported = res.LaunchCache
	return nil
}

// saveCache keeps the group's cache = true layers for the next build. The
// image is written by now: a cache that cannot be saved is a warning.
func (j *job) saveCache(ctx context.Context) {
	j.saved = true
	err := j.cache.Save(ctx, cache.SaveOptions{
		LayersDir: j.w.layers, LayersPrefix: layersRel, Group: j.group,
		Owner: archive.Owner{UID: j.b.UID, GID: j.b.GID}, ModTime: j.modTime, Exported: j.exported,
	})
	if err != nil {
		j.report("cache").warn("the layer cache was not updated: %v", err)
	}
}

// runPushName is where the run image is pushed: its tag when the tag is
// free or already names this image, else its digest alone, so that a build
// with an older builder never moves a tag a platform team has pointed at a
// patched run image (kiln rebase follows that tag).
func (j *job) runPushName(ctx context.Context) string {
	cur, err := j.images.Open(ctx, imageio.Location{Kind: imageio.Registry, Name: j.run.name}, false)
	if err != nil && imageio.IsNotFound(err) {
		return j.run.name
	}
	if err == nil {
		if have, err := cur.Digest(); err == nil && have == j.run.digest {
			return j.run.name
		}
	}
	return j.run.ref
}

// builderLabel is the builder's name and digest for the io.kiln.builder
// label (a name that is already a digest reference stays as it is).
func builderLabel(name string, digest v1.Hash) string {
	if strings.Contains(name, "@sha256:") || digest.Hex == "" {
		return name
	}
	return name + "@" + digest.String()
}
