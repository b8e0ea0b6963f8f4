package create

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/archive"
	"github.com/kiln-build/kiln/internal/export"
	"github.com/kiln-build/kiln/internal/workspace"
	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
)

// dirs are the host directories of one build.
type dirs struct {
	root, app, layers, platform, config, extraBP, tmp string
	// keptApp holds the app's kept workspace while the build has it, and
	// the manifest of app: never mounted into a container.
	keptApp string
}

func workDirs(root string) dirs {
	return dirs{
		root:     root,
		app:      filepath.Join(root, "workspace"),
		keptApp:  filepath.Join(root, "workspace.kept"),
		layers:   filepath.Join(root, "layers"),
		platform: filepath.Join(root, "platform"),
		config:   filepath.Join(root, "config"),
		extraBP:  filepath.Join(root, "buildpacks"),
		tmp:      filepath.Join(root, "tmp"),
	}
}

// prepare creates the dirs; those the buildpacks write belong to the CNB
// user (as the host sees it: own, a uid of kiln's range as root).
func (d dirs) prepare(own *archive.Owner) error {
	if err := os.Chmod(d.root, 0o755); err != nil {
		return err
	}
	for _, p := range []string{d.app, d.layers, d.platform, filepath.Join(d.platform, "env"), d.config, d.tmp} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", p, err)
		}
	}
	if own != nil {
		for _, p := range []string{d.app, d.layers} {
			if err := os.Chown(p, own.UID, own.GID); err != nil {
				return fmt.Errorf("handing %s to the CNB user: %w", p, err)
			}
		}
	}
	return nil
}

// prepare lays out the work dir for the build containers: the workspace
// with the app's source, the layers, platform and config dirs, the order,
// and what every phase container shares.
func (j *job) prepare(ctx context.Context) error {
	r := j.report("prepare")
	ids, err := reserveIDs(ctx)
	if err != nil {
		return failure.New("sandbox", failure.SandboxUnavailable, err)
	}
	j.onClose(func() {
		if err := ids.Release(); err != nil {
			r.warn("%v", err)
		}
	})
	j.own = hostOwner(ids, j.b.UID, j.b.GID)
	if err := j.w.prepare(j.own); err != nil {
		return err
	}
	if err := writePlatformEnv(j.w.platform, j.o.Env); err != nil {
		return failure.New("platform", failure.InvalidInput, err)
	}
	r.step("SOURCE %s", j.o.SourceDir)
	if err := j.copySource(ctx, r); err != nil {
		return failure.New("source", failure.InvalidInput, err)
	}
	order, extraBP, err := effectiveOrder(ctx, j.b, j.o, j.w.extraBP, j.w.tmp, j.buildpackImages())
	if err != nil {
		return failure.New("buildpacks", failure.InvalidInput, err)
	}
	// the builder's image extensions stay in front of whatever order the
	// build runs, as pack keeps them with --buildpack
	if err := descriptor.WriteOrders(filepath.Join(j.w.config, "order.toml"), descriptor.Orders{Buildpacks: order, Extensions: j.b.OrderExtensions}); err != nil {
		return err
	}
	if j.modTime = j.o.ModTime; j.modTime.IsZero() {
		if j.modTime, err = SourceDateEpoch(); err != nil {
			return failure.New("platform", failure.InvalidInput, err)
		}
	}
	return j.prepareContainer(ctx, ids, extraBP)
}

// prepareContainer sets up what the phase containers share: the CA
// bundle, the mounts, the environment and the phases' arguments.
func (j *job) prepareContainer(ctx context.Context, ids *sandbox.IDRange, extraBP bool) error {
	r := j.report("prepare")
	caBundle, cleanCA, err := sandbox.CABundle(ctx, j.w.tmp, j.o.CACerts...)
	if errors.Is(err, sandbox.ErrNoCABundle) && len(j.o.CACerts) == 0 {
		r.warn("the host has no CA bundle; TLS downloads in the build may fail")
		caBundle, err = "", nil
	}
	if err != nil {
		return failure.New("ca-cert", failure.InvalidInput, err)
	}
	j.onClose(func() {
		if err := cleanCA(); err != nil {
			r.warn("%v", err)
		}
	})
	w, b, t := j.w, j.b, j.run.target
	cb := containerBase{
		sandbox: j.o.Sandbox, log: j.log,
		runtime: j.o.Runtime, rootfs: b.RootFS, uid: b.UID, gid: b.GID,
		env:      buildEnv(b.Env(), j.modTime),
		caBundle: caBundle, tempDir: w.tmp,
		ids: ids, Isolation: j.o.Isolation, warnOnce: &sync.Once{},
		mounts: []sandbox.Mount{
			{Source: w.app, Destination: AppPath},
			{Source: w.layers, Destination: LayersPath},
			{Source: w.platform, Destination: PlatformPath},
			{Source: j.o.KilnBinary, Destination: KilnBinPath, ReadOnly: true},
			{Source: w.config, Destination: ConfigPath, ReadOnly: true},
		},
	}
	for _, v := range j.o.Volumes {
		if err := prepareVolume(v, w.platform, b.RootFS, j.own); err != nil {
			return failure.New("volume", failure.InvalidInput, err)
		}
		cb.mounts = append(cb.mounts, v)
	}
	bpRoots := descriptor.DefaultBuildpacksDir
	if extraBP {
		cb.mounts = append(cb.mounts, sandbox.Mount{Source: w.extraBP, Destination: ExtraBPPath, ReadOnly: true})
		bpRoots = ExtraBPPath + ":" + bpRoots
	}
	cb.args = []string{
		"--app", AppPath, "--layers", LayersPath, "--platform", PlatformPath,
		"--buildpacks", bpRoots,
		"--target-os", t.OS, "--target-arch", t.Arch, "--target-arch-variant", t.ArchVariant,
		"--target-distro-name", t.DistroName, "--target-distro-version", t.DistroVersion,
	}
	j.cb, j.out = cb, newBuildOutput(w)
	return nil
}

// copySource copies the app source into the workspace, owned by the CNB
// user. Symlinks that lead outside the source tree are left out, with a
// warning. The workspace the app's last successful build kept is synced
// with the source when there is one (only what changed is copied), else
// the source is copied in full.
func (j *job) copySource(ctx context.Context, r reporter) error {
	src := j.o.SourceDir
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("reading source: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("source %s is not a directory", src)
	}
	l := j.workspaceLayout()
	if j.o.ClearCache {
		if err := workspace.Drop(l.Store); err != nil {
			r.warn("%v", err)
		}
	}
	st, err := workspace.Prepare(ctx, src, l, workspace.Options{
		Owner:   j.own,
		Exclude: j.o.SourceExclude,
		OnSkip: func(p string, reason error) error {
			r.warn("source: leaving out %s: %v", p, reason)
			return nil
		},
		Warn: func(msg string) { r.warn("%s", msg) },
	})
	if err == nil && st.Reused {
		r.info("Reusing the last build's workspace: %d entries unchanged, %d copied, %d removed",
			st.Kept+st.Fixed, st.Copied, st.Removed)
	}
	return err
}

// workspaceLayout places the build's workspace and the app's kept one
// (beside its layer cache).
func (j *job) workspaceLayout() workspace.Layout {
	return workspace.Layout{
		Store: filepath.Join(cacheDirFor(j.o.CacheDir, j.o.cacheKey()), "workspace"),
		Hold:  j.w.keptApp,
		App:   j.w.app,
	}
}

// keepWorkspace hands the workspace of a successful build back to the
// app's cache, for the next build to sync rather than copy.
func (j *job) keepWorkspace() {
	if _, err := workspace.Keep(j.workspaceLayout()); err != nil {
		j.report("cache").warn("the workspace is not kept for the next build: %v", err)
	}
}

// hostOwner is the CNB user as the host sees the container's files, for
// files kiln hands to the build: as root, the uid and gid that ids maps
// the CNB user to; rootless, nil (kiln's own files appear as the CNB user
// inside the container).
func hostOwner(ids *sandbox.IDRange, uid, gid int) *archive.Owner {
	if os.Geteuid() != 0 {
		return nil
	}
	return &archive.Owner{UID: ids.HostUID(uint32(uid)), GID: ids.HostGID(uint32(gid))}
}

// reserveIDs takes a range of host ids for the build's containers when kiln
// is root (rootless runs map the caller's own ids); nil otherwise.
func reserveIDs(ctx context.Context) (*sandbox.IDRange, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	return sandbox.ReserveIDs(ctx)
}

// writePlatformEnv writes KEY=VALUE pairs as <platform>/env/KEY files.
func writePlatformEnv(platform string, env []string) error {
	dir := filepath.Join(platform, "env")
	sort.Strings(env)
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
			return fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
			return fmt.Errorf("writing platform env %s: %w", k, err)
		}
	}
	return nil
}

// buildEnv is the environment of the phase containers: the builder's,
// the platform API, and SOURCE_DATE_EPOCH (the image's time) so tools that
// honour it (pip's bytecode, Debian tooling, ...) write reproducible files.
func buildEnv(builderEnv []string, modTime time.Time) []string {
	env := append(builderEnv, "CNB_PLATFORM_API="+export.PlatformAPI)
	for _, kv := range builderEnv {
		if strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") {
			return env
		}
	}
	return append(env, fmt.Sprintf("SOURCE_DATE_EPOCH=%d", modTime.Unix()))
}

// SourceDateEpoch is $SOURCE_DATE_EPOCH as a time, else the CNB constant.
func SourceDateEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return archive.DefaultModTime, nil
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a Unix time", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
