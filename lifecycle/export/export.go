package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/lifecycle/archive"
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
	// Previous is the app's previous image, for launch layers a buildpack
	// reuses without restoring their contents.
	Previous v1.Image
	// Memo maps directory fingerprints to the diffIDs they produced in
	// the previous image; with Previous, unchanged layers are reused.
	Memo Memo
	// TempDir holds layer files until the image is written.
	TempDir string
	Log     io.Writer
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

type appended struct {
	layer v1.Layer
	what  string
}

// Export builds the app image.
func Export(ctx context.Context, o Options) (*Result, error) {
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
	if len(o.Launcher) == 0 {
		return nil, errors.New("no launcher binary")
	}
	entrypoint, err := entrypoint(o.Metadata, o.DefaultProcess)
	if err != nil {
		return nil, err
	}
	runLayers, err := o.RunImage.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading run image layers: %w", err)
	}
	if len(runLayers) == 0 {
		return nil, errors.New("run image has no layers")
	}
	top, err := runLayers[len(runLayers)-1].DiffID()
	if err != nil {
		return nil, fmt.Errorf("reading run image top layer: %w", err)
	}
	md := labels.Lifecycle{RunImage: o.RunImageInfo}
	md.RunImage.TopLayer = top.String()
	md.RunImage.Reference = o.RunImageReference
	if md.RunImage.Reference == "" {
		id, err := o.RunImage.ConfigName()
		if err != nil {
			return nil, fmt.Errorf("reading run image id: %w", err)
		}
		md.RunImage.Reference = id.String()
	}
	md.Stack = &labels.StackRunImage{RunImage: labels.RunImage{Image: md.RunImage.Image, Mirrors: md.RunImage.Mirrors}}

	var prev *labels.Lifecycle
	if o.Previous != nil {
		var p labels.Lifecycle
		if cfg, err := o.Previous.ConfigFile(); err == nil {
			if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &p); ok && err == nil {
				prev = &p
			}
		}
	}

	var add []appended
	owner := archive.Owner{UID: o.UID, GID: o.GID}
	layerType, err := LayerMediaType(o.RunImage)
	if err != nil {
		return nil, err
	}
	newLayer := func(t *archive.Tar, what string) (v1.Layer, error) {
		l, err := archive.NewLayer(ctx, t, archive.WithTempDir(o.TempDir), archive.WithMediaType(layerType))
		if err != nil {
			return nil, fmt.Errorf("writing %s layer: %w", what, err)
		}
		add = append(add, appended{l, what})
		return l, nil
	}
	tarOpt := archive.WithModTime(o.ModTime)
	memo := Memo{}
	launchCache := map[string]v1.Layer{}
	// dirLayer makes the layer of a host tree (or of some of its paths),
	// reusing the previous image's layer when the tree is unchanged.
	dirLayer := func(what, root string, paths []string, prefix string) (v1.Layer, error) {
		salt := fmt.Sprintf("%s|%d:%d|%d|%s|%t", prefix, o.UID, o.GID, o.ModTime.Unix(), layerType, paths == nil)
		fp, err := archive.Fingerprint(root, paths, salt)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", what, err)
		}
		if l, ok := reusable(o.Previous, o.Memo, fp); ok {
			d, _ := l.DiffID()
			memo[fp] = d.String()
			add = append(add, appended{l, what})
			fmt.Fprintf(o.Log, "Reusing unchanged layer %s\n", what)
			return l, nil
		}
		t, err := treeTar(ctx, root, paths, prefix, owner, o.ModTime)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", what, err)
		}
		fmt.Fprintf(o.Log, "Adding layer %s\n", what)
		l, err := newLayer(t, what)
		if err != nil {
			return nil, err
		}
		d, _ := l.DiffID()
		memo[fp] = d.String()
		return l, nil
	}
	layersRel := strings.TrimPrefix(path.Clean(o.LayersPath), "/")
	appRel := strings.TrimPrefix(path.Clean(o.AppPath), "/")

	// 1. Launch layers, buildpack by buildpack.
	for _, g := range o.Group {
		bpDir := filepath.Join(o.LayersDir, descriptor.EscapeID(g.ID))
		entry := labels.BuildpackEntry{Key: g.ID, Version: g.Version, Layers: map[string]labels.LayerMetadata{}}
		names, err := LayerNames(bpDir)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			lt, err := launch.ReadLayer(filepath.Join(bpDir, name+".toml"))
			if err != nil {
				return nil, fmt.Errorf("buildpack %s: %w", g.ID, err)
			}
			if !lt.Types.Launch {
				continue
			}
			lm := labels.LayerMetadata{Data: lt.Metadata, Launch: true, Build: lt.Types.Build, Cache: lt.Types.Cache}
			dir := filepath.Join(bpDir, name)
			what := fmt.Sprintf("%s:%s", g.ID, name)
			fi, err := os.Lstat(dir)
			if err == nil && !fi.IsDir() {
				return nil, fmt.Errorf("launch layer %s: %s is not a directory (%s); refusing to export it", what, dir, fi.Mode().Type())
			}
			if errors.Is(err, fs.ErrNotExist) {
				l, err := previousLayer(o.Previous, prev, g.ID, name)
				if err != nil {
					return nil, fmt.Errorf("launch layer %s has no contents: %w", what, err)
				}
				add = append(add, appended{l, what})
				d, _ := l.DiffID()
				lm.SHA = d.String()
				fmt.Fprintf(o.Log, "Reusing layer %s\n", what)
				entry.Layers[name] = lm
				continue
			}
			l, err := dirLayer(what, dir, nil, path.Join(layersRel, descriptor.EscapeID(g.ID), name))
			if err != nil {
				return nil, err
			}
			if lt.Types.Cache {
				launchCache[g.ID+":"+name] = l
			}
			d, _ := l.DiffID()
			lm.SHA = d.String()
			entry.Layers[name] = lm
		}
		if st, err := launch.ReadStore(filepath.Join(bpDir, "store.toml")); err == nil && len(st.Metadata) > 0 {
			entry.Store = &labels.Store{Metadata: st.Metadata}
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("buildpack %s: %w", g.ID, err)
		}
		md.Buildpacks = append(md.Buildpacks, entry)
	}

	// 2. SBOM layer.
	sbom, err := sbomTar(o, layersRel, owner, tarOpt, md)
	if err != nil {
		return nil, err
	}
	if sbom != nil {
		l, err := newLayer(sbom, "SBOM")
		if err != nil {
			return nil, err
		}
		d, _ := l.DiffID()
		md.SBOM = &labels.LayerSHA{SHA: d.String()}
		fmt.Fprintln(o.Log, "Adding SBOM layer")
	}

	// 3. App layers: each slice, then the rest.
	slicesPaths, rest, err := splitApp(o.AppDir, o.Metadata.Slices)
	if err != nil {
		return nil, err
	}
	for i, paths := range slicesPaths {
		if len(paths) == 0 {
			continue
		}
		l, err := dirLayer(fmt.Sprintf("app slice %d", i+1), o.AppDir, paths, appRel)
		if err != nil {
			return nil, err
		}
		d, _ := l.DiffID()
		md.App = append(md.App, labels.LayerSHA{SHA: d.String()})
	}
	l, err := dirLayer("app", o.AppDir, rest, appRel)
	if err != nil {
		return nil, err
	}
	d, _ := l.DiffID()
	md.App = append(md.App, labels.LayerSHA{SHA: d.String()})

	// 4. Launcher layer.
	root := archive.Owner{}
	entriesLayer := func(what string, entries []archive.Entry) (v1.Hash, error) {
		t := archive.NewTar(tarOpt)
		for _, e := range entries {
			if err := t.Add(e); err != nil {
				return v1.Hash{}, fmt.Errorf("%s layer: %w", what, err)
			}
		}
		l, err := newLayer(t, what)
		if err != nil {
			return v1.Hash{}, err
		}
		return l.DiffID()
	}
	if d, err = entriesLayer("launcher", []archive.Entry{
		archive.Dir("cnb", 0o755, root),
		archive.Dir("cnb/lifecycle", 0o755, root),
		archive.File("cnb/lifecycle/launcher", 0o755, root, o.Launcher),
	}); err != nil {
		return nil, err
	}
	md.Launcher = labels.LayerSHA{SHA: d.String()}

	// 5. Config layer: metadata.toml and the process links.
	entries := []archive.Entry{
		archive.Dir("cnb", 0o755, root),
		archive.Dir("cnb/process", 0o755, root),
		archive.Dir(layersRel, 0o755, owner),
		archive.Dir(path.Join(layersRel, "config"), 0o755, owner),
		archive.HostFile(path.Join(layersRel, "config", "metadata.toml"), filepath.Join(o.LayersDir, "config", "metadata.toml"), 0o644, owner),
	}
	for _, p := range o.Metadata.Processes {
		entries = append(entries, archive.Symlink("cnb/process/"+p.Type, "/cnb/lifecycle/launcher", root))
	}
	if d, err = entriesLayer("config", entries); err != nil {
		return nil, err
	}
	md.Config = labels.LayerSHA{SHA: d.String()}

	if n := len(runLayers) + len(add); n > MaxImageLayers {
		return nil, fmt.Errorf("the image would have %d layers (%d of the run image, %d new); container engines run at most %d: the buildpacks declared too many launch layers", n, len(runLayers), len(add), MaxImageLayers)
	}
	// The image: every new layer appended in one step.
	addenda := make([]mutate.Addendum, 0, len(add))
	for _, a := range add {
		addenda = append(addenda, mutate.Addendum{
			Layer:   a.layer,
			History: v1.History{Created: v1.Time{Time: o.ModTime}, CreatedBy: "kiln: " + a.what},
		})
	}
	img, err := mutate.Append(o.RunImage, addenda...)
	if err != nil {
		return nil, fmt.Errorf("adding layers: %w", err)
	}
	build := buildLabel(o)
	// The config of img, not of the run image: it carries the new diffIDs.
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	cfg = cfg.DeepCopy()
	if err := setConfig(cfg, o, entrypoint, md, build); err != nil {
		return nil, err
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("writing image config: %w", err)
	}
	return &Result{Image: img, Memo: memo, LaunchCache: launchCache, Lifecycle: md, Build: build}, nil
}

// treeTar is the tar of a host tree (or of some of its paths) under
// prefix, owned by owner, every time modTime.
func treeTar(ctx context.Context, root string, paths []string, prefix string, owner archive.Owner, modTime time.Time) (*archive.Tar, error) {
	t := archive.NewTar(archive.WithModTime(modTime))
	opts := archive.DirOptions{Owner: owner, ParentOwner: owner}
	var err error
	if paths == nil {
		err = t.AddDir(ctx, root, prefix, opts)
	} else {
		err = t.AddPaths(ctx, root, prefix, paths, opts)
	}
	return t, err
}

// BuildpackLayerTar is the tar of the layer dir <layersRel>/<escaped
// id>/<name> exactly as the app image holds it, so the cache and the image
// agree on its diffID.
func BuildpackLayerTar(ctx context.Context, dir, layersRel, id, name string, owner archive.Owner, modTime time.Time) (*archive.Tar, error) {
	if modTime.IsZero() {
		modTime = archive.DefaultModTime
	}
	return treeTar(ctx, dir, nil, path.Join(layersRel, descriptor.EscapeID(id), name), owner, modTime)
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
	cfg.DockerVersion = ""
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	for _, l := range o.Metadata.Labels {
		cfg.Config.Labels[l.Key] = l.Value
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

// splitApp resolves the slices' globs inside appDir. Earlier slices claim
// files first. It returns the paths of each slice and the paths left for
// the last app layer (nil when there are no slices: everything).
func splitApp(appDir string, ss []launch.Slice) ([][]string, []string, error) {
	if len(ss) == 0 {
		return nil, nil, nil
	}
	claimed := map[string]bool{}
	isClaimed := func(rel string) bool {
		for p := rel; p != "." && p != "/" && p != ""; p = filepath.Dir(p) {
			if claimed[p] {
				return true
			}
		}
		return false
	}
	all, err := appPaths(appDir)
	if err != nil {
		return nil, nil, err
	}
	out := make([][]string, len(ss))
	for i, s := range ss {
		for _, pat := range s.Paths {
			if filepath.IsAbs(pat) || strings.HasPrefix(filepath.Clean(pat), "..") {
				return nil, nil, fmt.Errorf("slice path %q must be relative to the app dir", pat)
			}
			matches, err := matchPaths(all, filepath.Clean(pat))
			if err != nil {
				return nil, nil, fmt.Errorf("slice path %q: %w", pat, err)
			}
			for _, rel := range matches {
				if isClaimed(rel) {
					continue
				}
				claimed[rel] = true
				out[i] = append(out[i], rel)
			}
		}
		sort.Strings(out[i])
	}
	rest := []string{}
	err = filepath.WalkDir(appDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(appDir, p)
		if rel == "." {
			return nil
		}
		if isClaimed(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// A directory with claimed paths beneath it is walked into;
			// one without is taken whole.
			for c := range claimed {
				if strings.HasPrefix(c, rel+string(filepath.Separator)) {
					return nil
				}
			}
			rest = append(rest, rel)
			return filepath.SkipDir
		}
		rest = append(rest, rel)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading app dir: %w", err)
	}
	slices.Sort(rest)
	return out, rest, nil
}

// appPaths lists every path beneath appDir, relative and sorted, walking
// without following symlinks: a slice's glob matches what the app dir
// holds, never what a link in it points to.
func appPaths(appDir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(appDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(appDir, p); rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading app dir: %w", err)
	}
	return out, nil
}

// matchPaths returns the paths pat matches, as filepath.Glob would in the
// app dir but without going through symlinked directories.
func matchPaths(paths []string, pat string) ([]string, error) {
	if _, err := filepath.Match(pat, ""); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range paths {
		if ok, _ := filepath.Match(pat, p); ok {
			out = append(out, p)
		}
	}
	return out, nil
}
