package create

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/kiln-build/kiln/internal/dockerfile"
	"github.com/kiln-build/kiln/lifecycle/builder"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
)

// detectGenerateBuild is detectBuild for a builder with image extensions:
// detect and generate run in one container, then the host reads what the
// extensions generated — before any buildpack builds, so nothing the
// build runs can change it — refuses Dockerfile instructions it would
// have to apply, switches the run image when a run.Dockerfile says so,
// and runs build in a second container with the run image's target.
func (j *job) detectGenerateBuild(ctx context.Context) error {
	j.report("detect").step("DETECTING")
	args := []string{KilnBinPath, "phase", "detect-generate", "--order", OrderPath}
	stdout := newStepSplitter(j.log, Event{Phase: "generate", Kind: Step, Message: "GENERATING"})
	code, err := j.cb.runTo(ctx, "detect", append(args, j.cb.args...), stdout)
	stdout.Flush()
	if err != nil {
		return failure.New("detect", failure.SandboxUnavailable, err)
	}
	if code != 0 {
		return j.generateFailure(code)
	}
	if err := j.out.check("generate", failure.GenerateError); err != nil {
		return err
	}
	if err := j.applyGenerated(ctx); err != nil {
		return err
	}
	j.report("build").step("BUILDING")
	args = []string{KilnBinPath, "phase", "build"}
	for _, name := range j.restored {
		args = append(args, "--restored", name)
	}
	code, err = j.cb.runTo(ctx, "build", append(args, withTarget(j.cb.args, j.run.target)...), j.log)
	if err != nil {
		return failure.New("build", failure.SandboxUnavailable, err)
	}
	if code != 0 {
		return j.phaseFailure(code)
	}
	return j.readBuild()
}

// generateFailure is the failure of a detect-generate container that
// exited with code: detect's until it wrote its group, generate's after.
func (j *job) generateFailure(code int) error {
	phase, errFile := "detect", DetectErrorRel
	switch {
	case code == failure.GenerateError || code == failure.GenerateFailed:
		phase, errFile = "generate", GenerateErrorRel
	case code == failure.DetectNoGroup || code == failure.DetectError:
	default:
		if _, err := j.out.layers.Lstat(descriptor.GroupFile); err == nil {
			phase, errFile, code = "generate", GenerateErrorRel, failure.GenerateError
		} else {
			code = failure.DetectError
		}
	}
	msg := fmt.Sprintf("the %s phase failed with exit code %d (see the output above)", phase, code)
	if s := j.out.errorText(errFile); s != "" {
		msg = s
	}
	return failure.New(phase, code, errors.New(msg))
}

// applyGenerated reads the Dockerfiles the detected extensions wrote and
// acts on them (see dockerfile.Choose). extend-config.toml is not read:
// its build args only matter to Dockerfile instructions, which kiln
// does not apply.
func (j *job) applyGenerated(ctx context.Context) error {
	r := j.report("generate")
	groups, err := j.out.groups()
	if err != nil {
		return failure.New("detect", failure.DetectError, err)
	}
	j.extensions = groups.Extensions
	var gen []dockerfile.Generated
	for _, e := range groups.Extensions {
		g := dockerfile.Generated{Extension: e.Ref()}
		dir := path.Join(strings.TrimPrefix(GeneratedPath, LayersPath+"/"), descriptor.EscapeID(e.ID))
		for _, f := range []struct {
			kind dockerfile.Kind
			out  *[]byte
		}{{dockerfile.Run, &g.Run}, {dockerfile.Build, &g.Build}} {
			data, err := j.out.layers.ReadFile(path.Join(dir, f.kind.File()), dockerfile.MaxSize)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				return failure.New("generate", failure.GenerateError, fmt.Errorf("extension %s: %w", e.Ref(), err))
			default:
				*f.out = data
			}
		}
		gen = append(gen, g)
	}
	choice, err := dockerfile.Choose(gen)
	if err != nil {
		return failure.New("generate", failure.GenerateError, err)
	}
	for _, ext := range choice.Ignored {
		r.info("The run.Dockerfile of extension %s is ignored: a later extension switches the run image", ext)
	}
	if choice.RunImage == "" {
		return nil
	}
	return j.switchRunImage(ctx, choice.RunImage, choice.By)
}

// switchRunImage makes ref, which extension by chose, the build's run
// image. ref comes from the build's output: it must be an image
// reference (never oci: or docker-archive:, which would read host
// files), and the image must be for the platform the build targets.
func (j *job) switchRunImage(ctx context.Context, ref, by string) error {
	r := j.report("run image")
	if strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker-archive:") {
		return failure.New("generate", failure.GenerateError, fmt.Errorf("extension %s: run.Dockerfile: FROM %s: a run image must be an image reference", by, ref))
	}
	if _, err := name.ParseReference(ref, name.WeakValidation); err != nil {
		return failure.New("generate", failure.GenerateError, fmt.Errorf("extension %s: run.Dockerfile: FROM %s: %w", by, ref, err))
	}
	mirrors, listed := runMirrors(j.b.Run, ref)
	if !listed && j.o.ListedRunImagesOnly {
		return failure.New("generate", failure.GenerateError, fmt.Errorf("extension %s: run.Dockerfile: FROM %s: the builder does not list that run image, and this build takes only listed ones", by, ref))
	}
	if !listed {
		r.warn("the run image %s that extension %s chose is not among the builder's run images", ref, by)
	}
	r.step("RUN IMAGE %s (chosen by extension %s)", ref, by)
	ri, err := j.resolveRun(ctx, ref, mirrors)
	if err != nil {
		return err
	}
	was, now := j.run.target, ri.target
	if was.OS != now.OS || was.Arch != now.Arch || (was.ArchVariant != "" && now.ArchVariant != "" && was.ArchVariant != now.ArchVariant) {
		return failure.New("generate", failure.GenerateError, fmt.Errorf("extension %s: the run image %s is for %s/%s, but this build is for %s/%s", by, ref, now.OS, now.Arch, was.OS, was.Arch))
	}
	j.run = ri
	return nil
}

// runMirrors says whether ref is among the builder's run images (or
// their mirrors), and the mirrors recorded with it when it is one of the
// images.
func runMirrors(run builder.RunImages, ref string) ([]string, bool) {
	for _, ri := range run.Images {
		if ri.Image == ref {
			return ri.Mirrors, true
		}
		for _, m := range ri.Mirrors {
			if m == ref {
				return nil, true
			}
		}
	}
	return nil, false
}

// groups reads the detected group.toml with its [[group-extensions]].
func (b buildOutput) groups() (descriptor.Groups, error) {
	data, err := b.layers.ReadFile(descriptor.GroupFile, descriptor.MaxTOMLSize)
	if err != nil {
		return descriptor.Groups{}, err
	}
	return descriptor.DecodeGroups(LayersPath+"/"+descriptor.GroupFile, data)
}

// withTarget is a copy of a phase's arguments with the --target-* values
// of t.
func withTarget(args []string, t descriptor.RunTarget) []string {
	values := map[string]string{
		"--target-os": t.OS, "--target-arch": t.Arch, "--target-arch-variant": t.ArchVariant,
		"--target-distro-name": t.DistroName, "--target-distro-version": t.DistroVersion,
	}
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if v, ok := values[out[i]]; ok {
			out[i+1] = v
			i++
		}
	}
	return out
}
