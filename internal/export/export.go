package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/labels"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// PlatformAPI is the Platform API version kiln implements.
const PlatformAPI = "0.15"

// MaxImageLayers is the most layers an image may have: overlay-based
// container engines refuse to run an image with more.
const MaxImageLayers = 127

// Options describe one export.
type Options struct {
	// RunImage is the base of the app image.
	RunImage v1.Image
	// RunImageInfo is the run image name and mirrors from run.toml; its
	// TopLayer and Reference are filled in by Export.
	RunImageInfo labels.RunImage
	// RunImageReference uniquely names the run image (a digest reference);
	// empty means its image ID.
	RunImageReference string
	// LayersDir and AppDir are the host paths of the build's layers and
	// app directories.
	LayersDir, AppDir string
	// LayersPath and AppPath are where they sit in the image (default
	// /layers and /workspace).
	LayersPath, AppPath string
	// Group is the buildpack group that built the app, in order.
	Group []descriptor.GroupEntry
	// Extensions are the image extensions that took part
	// ([[group-extensions]]), for io.buildpacks.build.metadata.
	Extensions []descriptor.GroupEntry
	// Metadata is <layers>/config/metadata.toml.
	Metadata launch.Metadata
	// Launcher is the launcher binary.
	Launcher        []byte
	LauncherVersion string
	// UID and GID own the layer and app files (the CNB user).
	UID, GID int
	// ModTime is every new file's mtime and the image's created time;
	// zero means archive.DefaultModTime.
	ModTime time.Time
	// DefaultProcess, when set, must name a buildpack process.
	DefaultProcess string
	Project        labels.Project
	// Builder, when set, is recorded in the io.kiln.builder label
	// (name@digest of the builder).
	Builder string
	// Previous is the app's previous image, for launch layers a buildpack
	// reuses without restoring their contents.
	Previous v1.Image
	// Memo maps directory fingerprints to the diffIDs they produced in
	// the previous image; with Previous, unchanged layers are reused.
	Memo Memo
	// TempDir holds layer files until the image is written.
	TempDir string
	// Parallelism is how many layers are built at once; zero means
	// GOMAXPROCS. It changes no byte of the image.
	Parallelism int
	Log         io.Writer
}

// Result is the exported image and what went into it.
type Result struct {
	Image v1.Image
	// Memo is the fingerprint memo of this image's layers, for the next
	// build.
	Memo Memo
	// LaunchCache holds the layers of launch+cache layers ("id:name"), so
	// the cache stores the very bytes the image has (same diffID) without
	// writing them twice.
	LaunchCache map[string]v1.Layer
	Lifecycle   labels.Lifecycle
	Build       labels.Build
}

// Export builds the app image: the run image, then the buildpacks' launch
// layers, the SBOM layer, the app layers, the launcher layer and the
// config layer. Each kind's step plans its layers in image order; the
// layers are then built concurrently and recorded in that order.
func Export(ctx context.Context, o Options) (*Result, error) {
	o = withDefaults(o)
	if len(o.Launcher) == 0 {
		return nil, errors.New("no launcher binary")
	}
	entrypoint, err := entrypoint(o.Metadata, o.DefaultProcess)
	if err != nil {
		return nil, err
	}
	e, err := newExporter(o)
	if err != nil {
		return nil, err
	}
	for _, add := range []func(context.Context) error{e.launchLayers, e.sbomLayer, e.appLayers, e.launcherLayer, e.configLayer} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := add(ctx); err != nil {
			return nil, err
		}
	}
	if err := e.buildLayers(ctx); err != nil {
		return nil, err
	}
	img, build, err := e.image(entrypoint)
	if err != nil {
		return nil, err
	}
	return &Result{Image: img, Memo: e.memo, LaunchCache: e.launchCache, Lifecycle: e.md, Build: build}, nil
}

func withDefaults(o Options) Options {
	if o.LayersPath == "" {
		o.LayersPath = "/layers"
	}
	if o.AppPath == "" {
		o.AppPath = "/workspace"
	}
	if o.ModTime.IsZero() {
		o.ModTime = archive.DefaultModTime
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// exporter is one export under way: what the layer steps share, and what
// they add to the image and its lifecycle label.
type exporter struct {
	o         Options
	owner     archive.Owner // the CNB user, owner of layer and app files
	layerType types.MediaType
	// layersRel and appRel are the layers and app dirs in image tars.
	layersRel, appRel string
	runLayers         int
	// prev is the previous image's lifecycle label, if any.
	prev *labels.Lifecycle

	md labels.Lifecycle
	// pending are the planned layers, in image order; add the built ones.
	pending     []pending
	add         []appended
	memo        Memo
	launchCache map[string]v1.Layer
}

type appended struct {
	layer v1.Layer
	what  string
}

func newExporter(o Options) (*exporter, error) {
	e := &exporter{
		o: o, owner: archive.Owner{UID: o.UID, GID: o.GID},
		layersRel: strings.TrimPrefix(path.Clean(o.LayersPath), "/"),
		appRel:    strings.TrimPrefix(path.Clean(o.AppPath), "/"),
		memo:      Memo{}, launchCache: map[string]v1.Layer{},
	}
	var err error
	if e.md, e.runLayers, err = runImageLabel(o); err != nil {
		return nil, err
	}
	if e.prev, err = previousLabel(o.Previous); err != nil {
		return nil, err
	}
	if e.layerType, err = LayerMediaType(o.RunImage); err != nil {
		return nil, err
	}
	return e, nil
}

// runImageLabel starts the lifecycle label with the run image: its name,
// mirrors, top layer and reference. It also counts the run image's layers.
func runImageLabel(o Options) (labels.Lifecycle, int, error) {
	runLayers, err := o.RunImage.Layers()
	if err != nil {
		return labels.Lifecycle{}, 0, fmt.Errorf("reading run image layers: %w", err)
	}
	if len(runLayers) == 0 {
		return labels.Lifecycle{}, 0, errors.New("run image has no layers")
	}
	top, err := runLayers[len(runLayers)-1].DiffID()
	if err != nil {
		return labels.Lifecycle{}, 0, fmt.Errorf("reading run image top layer: %w", err)
	}
	md := labels.Lifecycle{RunImage: o.RunImageInfo}
	md.RunImage.TopLayer = top.String()
	md.RunImage.Reference = o.RunImageReference
	if md.RunImage.Reference == "" {
		id, err := o.RunImage.ConfigName()
		if err != nil {
			return labels.Lifecycle{}, 0, fmt.Errorf("reading run image id: %w", err)
		}
		md.RunImage.Reference = id.String()
	}
	md.Stack = &labels.StackRunImage{RunImage: labels.RunImage{Image: md.RunImage.Image, Mirrors: md.RunImage.Mirrors}}
	return md, len(runLayers), nil
}

// previousLabel is the lifecycle label of the previous image; nil without
// a previous image or when it has none.
func previousLabel(img v1.Image) (*labels.Lifecycle, error) {
	if img == nil {
		return nil, nil
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the previous image's config: %w", err)
	}
	var p labels.Lifecycle
	ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &p)
	if err != nil {
		return nil, fmt.Errorf("reading the previous image: %w", err)
	}
	if !ok {
		return nil, nil
	}
	return &p, nil
}

// plan appends a layer to the image: build makes it (concurrently with
// the others), done records it (in image order; may be nil).
func (e *exporter) plan(build func(context.Context) (built, error), done func(built)) {
	e.pending = append(e.pending, pending{build: build, done: done})
}

// newLayer makes the layer of t.
func (e *exporter) newLayer(ctx context.Context, t *archive.Tar, what string) (built, error) {
	l, err := archive.NewLayer(ctx, t, archive.WithTempDir(e.o.TempDir), archive.WithMediaType(e.layerType))
	if err != nil {
		return built{}, fmt.Errorf("writing %s layer: %w", what, err)
	}
	d, err := l.DiffID()
	if err != nil {
		l.Close()
		return built{}, fmt.Errorf("writing %s layer: %w", what, err)
	}
	return built{layer: l, diffID: d, what: what}, nil
}

// reuse is a layer of the previous image whose diffID is known.
func reuse(l v1.Layer, what string) (built, error) {
	d, err := l.DiffID()
	if err != nil {
		return built{}, fmt.Errorf("reusing layer %s: %w", what, err)
	}
	return built{layer: l, diffID: d, what: what}, nil
}

// dirLayer makes the layer of a host tree, reusing the previous image's
// layer when the tree is unchanged. It runs as a pending build: it reads
// the exporter's options only.
func (e *exporter) dirLayer(ctx context.Context, what, root, prefix string) (built, error) {
	l, err := archive.List(ctx, root)
	if err != nil {
		return built{}, fmt.Errorf("layer %s: %w", what, err)
	}
	return e.listedLayer(ctx, what, l, l.All(), prefix)
}

// listedLayer makes the layer of the entries idx of a listed host tree
// (with the directories above them), reusing the previous image's layer
// when their fingerprint is in the memo. It runs as a pending build.
func (e *exporter) listedLayer(ctx context.Context, what string, l *archive.Listing, idx []int, prefix string) (built, error) {
	if err := ctx.Err(); err != nil {
		return built{}, err
	}
	o := e.o
	salt := fmt.Sprintf("%s|%d:%d|%d|%s", prefix, o.UID, o.GID, o.ModTime.Unix(), e.layerType)
	fp := l.Fingerprint(idx, salt)
	if l, ok := reusable(o.Previous, o.Memo, fp); ok {
		b, err := reuse(l, what)
		b.fp, b.log = fp, "Reusing unchanged layer "+what
		return b, err
	}
	t, err := listedTar(ctx, l, idx, prefix, e.owner, o.ModTime)
	if err != nil {
		return built{}, fmt.Errorf("layer %s: %w", what, err)
	}
	b, err := e.newLayer(ctx, t, what)
	b.fp, b.log = fp, "Adding layer "+what
	return b, err
}

// image puts every new layer on the run image in one step and sets the
// config: entrypoint, environment and labels.
func (e *exporter) image(entrypoint string) (v1.Image, labels.Build, error) {
	o := e.o
	if n := e.runLayers + len(e.add); n > MaxImageLayers {
		return nil, labels.Build{}, fmt.Errorf("the image would have %d layers (%d of the run image, %d new); container engines run at most %d: the buildpacks declared too many launch layers", n, e.runLayers, len(e.add), MaxImageLayers)
	}
	addenda := make([]mutate.Addendum, 0, len(e.add))
	for _, a := range e.add {
		addenda = append(addenda, mutate.Addendum{
			Layer:   a.layer,
			History: v1.History{Created: v1.Time{Time: o.ModTime}, CreatedBy: "kiln: " + a.what},
		})
	}
	img, err := mutate.Append(o.RunImage, addenda...)
	if err != nil {
		return nil, labels.Build{}, fmt.Errorf("adding layers: %w", err)
	}
	build := buildLabel(o)
	// The config of img, not of the run image: it carries the new diffIDs.
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, labels.Build{}, fmt.Errorf("reading image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	if err := setConfig(cfg, o, entrypoint, e.md, build); err != nil {
		return nil, labels.Build{}, err
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, labels.Build{}, fmt.Errorf("writing image config: %w", err)
	}
	return img, build, nil
}

// listedTar is the tar of the entries idx of a listed host tree, and of
// the directories above them, under prefix, owned by owner, every time
// modTime.
func listedTar(ctx context.Context, l *archive.Listing, idx []int, prefix string, owner archive.Owner, modTime time.Time) (*archive.Tar, error) {
	t := archive.NewTar(archive.WithModTime(modTime))
	err := t.AddListed(ctx, l, idx, prefix, archive.DirOptions{Owner: owner, ParentOwner: owner})
	return t, err
}

// LayerMediaType is the layer media type that fits base's manifest: Docker
// layers in a Docker v2 manifest, OCI layers otherwise.
func LayerMediaType(base v1.Image) (types.MediaType, error) {
	mt, err := base.MediaType()
	if err != nil {
		return "", fmt.Errorf("reading base image media type: %w", err)
	}
	if mt == types.DockerManifestSchema2 {
		return types.DockerLayer, nil
	}
	return types.OCILayer, nil
}

// entrypoint chooses the image ENTRYPOINT per platform.md's exporter rules.
func entrypoint(m launch.Metadata, requested string) (string, error) {
	if requested != "" {
		if _, ok := m.Process(requested); !ok {
			var types []string
			for _, p := range m.Processes {
				types = append(types, p.Type)
			}
			return "", fmt.Errorf("default process %q is not one the buildpacks declared (they declared: %s)", requested, strings.Join(types, ", "))
		}
		return "/cnb/process/" + requested, nil
	}
	if d := m.BuildpackDefaultProcessType; d != "" {
		return "/cnb/process/" + d, nil
	}
	return "/cnb/lifecycle/launcher", nil
}

// LayerNames lists the layers of a buildpack's layers dir by their
// <name>.toml files (launch.toml, build.toml and store.toml are not
// layers), sorted. A missing dir has none.
func LayerNames(bpDir string) ([]string, error) {
	entries, err := os.ReadDir(bpDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", bpDir, err)
	}
	var out []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".toml")
		if !ok || e.IsDir() || n == "launch" || n == "build" || n == "store" {
			continue
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// previousLayer finds a buildpack layer of the previous image by the diffID
// its lifecycle label recorded.
func previousLayer(img v1.Image, md *labels.Lifecycle, id, name string) (v1.Layer, error) {
	if img == nil || md == nil {
		return nil, errors.New("there is no previous image to reuse it from")
	}
	for _, bp := range md.Buildpacks {
		if bp.Key != id {
			continue
		}
		lm, ok := bp.Layers[name]
		if !ok || lm.SHA == "" {
			break
		}
		h, err := v1.NewHash(lm.SHA)
		if err != nil {
			return nil, fmt.Errorf("previous image: layer %s: %w", name, err)
		}
		l, err := img.LayerByDiffID(h)
		if err != nil {
			return nil, fmt.Errorf("previous image lacks layer %s (%s): %w", name, lm.SHA, err)
		}
		return withDiffID(l, h), nil
	}
	return nil, errors.New("the previous image has no such layer")
}

func buildLabel(o Options) labels.Build {
	b := labels.Build{Processes: []labels.Process{}, Launcher: labels.Launcher{Version: o.LauncherVersion}}
	for _, p := range o.Metadata.Processes {
		b.Processes = append(b.Processes, labels.Process{
			Type: p.Type, Command: p.Command, Args: nonNil(p.Args), Direct: p.Direct,
			WorkingDir: p.WorkingDir, BuildpackID: p.BuildpackID, ExecEnv: p.ExecEnv,
		})
	}
	for _, g := range o.Group {
		b.Buildpacks = append(b.Buildpacks, labels.BuildpackRef{ID: g.ID, Version: g.Version, Homepage: g.Homepage, API: g.API})
	}
	for _, g := range o.Extensions {
		b.Extensions = append(b.Extensions, labels.BuildpackRef{ID: g.ID, Version: g.Version, Homepage: g.Homepage, API: g.API})
	}
	return b
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func setConfig(cfg *v1.ConfigFile, o Options, entrypoint string, md labels.Lifecycle, build labels.Build) error {
	runPath := defaultPath
	var env []string
	for _, kv := range cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH":
			runPath = v
			continue
		case "CNB_LAYERS_DIR", "CNB_APP_DIR", "CNB_PLATFORM_API":
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"CNB_LAYERS_DIR="+o.LayersPath,
		"CNB_APP_DIR="+o.AppPath,
		"CNB_PLATFORM_API="+PlatformAPI,
		"PATH=/cnb/process:"+runPath,
	)
	cfg.Config.Env = env
	cfg.Config.Entrypoint = []string{entrypoint}
	cfg.Config.Cmd = nil
	cfg.Config.WorkingDir = o.AppPath
	cfg.Created = v1.Time{Time: o.ModTime}
	cfg.Container = ""
	//lint:ignore SA1019 a run image's builder version must not reach the app image
	cfg.DockerVersion = ""
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for _, l := range o.Metadata.Labels {
		cfg.Config.Labels[l.Key] = l.Value
	}
	if o.Builder != "" {
		cfg.Config.Labels[labels.KilnBuilder] = o.Builder
	}
	for k, v := range map[string]any{
		labels.LifecycleMetadata: md,
		labels.BuildMetadata:     build,
		labels.ProjectMetadata:   o.Project,
	} {
		s, err := labels.Encode(v)
		if err != nil {
			return fmt.Errorf("encoding label %s: %w", k, err)
		}
		cfg.Config.Labels[k] = s
	}
	return nil
}
