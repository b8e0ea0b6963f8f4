package imageio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/kiln-build/kiln/internal/progress"
)

// IO reads and writes images for one kiln invocation.
type IO struct {
	store      *LocalStore
	keychain   authn.Keychain
	jobs       int
	timeout    time.Duration
	timeoutErr error // an unusable KILN_REGISTRY_TIMEOUT
	transport  *stallTransport
	insecure   map[string]bool // registries reached over plain HTTP
	progress   io.Writer       // where pushes and pulls show their progress (a terminal)
	meter      *progress.Meter // counts the bytes pulled (nil off a terminal)
}

// Option configures an IO.
type Option func(*IO)

// WithKeychain sets the registry credentials source (default:
// DefaultKeychain: CNB_REGISTRY_AUTH, then the Docker config).
func WithKeychain(k authn.Keychain) Option { return func(o *IO) { o.keychain = k } }

// WithJobs sets how many blobs move at once (default: 2 x CPUs, at least 4).
func WithJobs(n int) Option { return func(o *IO) { o.jobs = n } }

// WithTimeout bounds how long a registry request may go without progress
// (default: $KILN_REGISTRY_TIMEOUT, else DefaultTimeout); a stalled
// request fails with a *StallError naming the registry and what was being
// done. d <= 0 means DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(o *IO) {
		if d <= 0 {
			d = DefaultTimeout
		}
		o.timeout, o.timeoutErr = d, nil
	}
}

// WithInsecureRegistries lets kiln reach these registries (host[:port])
// over plain HTTP when HTTPS fails, as pack's --insecure-registry does;
// loopback registries are always reached over HTTP.
func WithInsecureRegistries(hosts ...string) Option {
	return func(o *IO) {
		if o.insecure == nil {
			o.insecure = map[string]bool{}
		}
		for _, h := range hosts {
			o.insecure[h] = true
		}
	}
}

// WithProgress shows the progress of pushes to a registry, and of pulls
// of an image's layers from one (into the local store, an OCI layout or an
// archive, or unpacked: see progress.Track), on w when w is a terminal
// (package progress: bytes, rate; nothing on a pipe or file).
func WithProgress(w io.Writer) Option { return func(o *IO) { o.progress = w } }

// ParseReference parses an image reference as kiln does everywhere (weak
// validation), marking it insecure when its registry was named by
// WithInsecureRegistries.
func (o *IO) ParseReference(s string) (name.Reference, error) {
	r, err := name.ParseReference(s, name.WeakValidation)
	if err != nil || !o.insecure[r.Context().RegistryStr()] {
		return r, err
	}
	return name.ParseReference(s, name.WeakValidation, name.Insecure)
}

// New returns an IO that uses store as the local store. An unusable
// KILN_REGISTRY_TIMEOUT (unless WithTimeout overrides it) fails every
// registry call with a message naming it.
func New(store *LocalStore, opts ...Option) *IO {
	timeout, err := TimeoutFromEnv()
	o := &IO{store: store, keychain: DefaultKeychain, jobs: max(4, 2*runtime.NumCPU()), timeout: timeout, timeoutErr: err}
	for _, opt := range opts {
		opt(o)
	}
	o.transport = &stallTransport{base: baseTransport, timeout: o.timeout, err: o.timeoutErr}
	o.meter = progress.NewMeter(o.progress)
	return o
}

// Timeout is the bound on a registry request without progress.
func (o *IO) Timeout() time.Duration { return o.timeout }

// Store is the local store.
func (o *IO) Store() *LocalStore { return o.store }

// RemoteOptions are the go-containerregistry options for registry access.
func (o *IO) RemoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithJobs(o.jobs),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithTransport(o.transport),
		remote.WithRetryBackoff(retryBackoff),
		remote.WithRetryStatusCodes(retryStatusCodes...),
	}
}

// registryError makes err from a registry call say plainly what went
// wrong: rejected credentials name the registry and where they came from;
// a stall names the request that stalled, without the URL around it.
func (o *IO) registryError(err error, r name.Reference) error {
	var se *StallError
	if errors.As(err, &se) {
		return se
	}
	err = DescribeAuthError(err, r.Context().RegistryStr(), r.Context().RepositoryStr())
	var ae *AuthError
	if errors.As(err, &ae) {
		ae.NoCredentials = o.anonymous(r.Context())
	}
	return err
}

// anonymous says whether the keychain holds no credentials for repo's
// registry, so a refusal means "log in", not "wrong password".
func (o *IO) anonymous(repo name.Repository) bool {
	a, err := o.keychain.Resolve(repo)
	if err != nil {
		return false
	}
	return a == authn.Anonymous
}

// Open returns the image at loc. A Store location is looked up in the
// local store first and then, when remote is true, in its registry.
func (o *IO) Open(ctx context.Context, loc Location, remoteFallback bool) (v1.Image, error) {
	switch loc.Kind {
	case Layout:
		if _, err := os.Stat(filepath.Join(loc.Path, "index.json")); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("opening %s: no OCI layout: %w", loc, ErrNotFound)
		}
		img, err := imageFromLayout(loc.Path, loc.Name)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", loc, err)
		}
		return checkBounds(img, loc.String())
	case Archive:
		return openArchive(loc)
	case Store:
		if o.store != nil {
			img, err := o.store.Image(loc.Name)
			if err == nil {
				return img, nil
			}
			if !errors.Is(err, ErrNotFound) || !remoteFallback {
				return nil, fmt.Errorf("opening %s from the local store: %w", loc.Name, err)
			}
		}
		if !remoteFallback {
			return nil, fmt.Errorf("%s: %w", loc.Name, ErrNotFound)
		}
		img, err := o.Remote(ctx, loc.Name)
		if err != nil {
			// Say both places: a mistyped local name otherwise reads as
			// a Docker Hub failure.
			return nil, fmt.Errorf("%s is not in the local store (kiln images lists it), and from its registry: %w", loc.Name, err)
		}
		return img, nil
	case Registry:
		return o.Remote(ctx, loc.Name)
	}
	return nil, fmt.Errorf("opening %s: unknown kind %v", loc, loc.Kind)
}

// openArchive reads the image loc.Name (or the only image) from a
// docker-archive; a missing file or tag is ErrNotFound.
func openArchive(loc Location) (v1.Image, error) {
	var tag *name.Tag
	if loc.Name != "" {
		t, err := name.NewTag(loc.Name, name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", loc, err)
		}
		tag = &t
	}
	if _, err := os.Stat(loc.Path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("opening %s: no such file: %w", loc, ErrNotFound)
	}
	img, err := tarball.ImageFromPath(loc.Path, tag)
	if err == nil {
		return img, nil
	}
	if tag != nil && !archiveHasTag(loc.Path, *tag) {
		return nil, fmt.Errorf("opening %s: no image %s: %w", loc, loc.Name, ErrNotFound)
	}
	return nil, fmt.Errorf("opening %s: %w", loc, err)
}

// archiveHasTag reports whether the archive's manifest names tag (true
// when the manifest cannot be read: that is another error, not absence).
func archiveHasTag(path string, tag name.Tag) bool {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return true
	}
	for _, d := range m {
		for _, s := range d.RepoTags {
			if t, err := name.NewTag(s, name.WeakValidation); err == nil && t.Name() == tag.Name() {
				return true
			}
		}
	}
	return false
}

// Remote returns the image ref from its registry. Layers are fetched
// lazily; on a terminal (WithProgress) their reads are counted, for Write
// and progress.Track to show.
func (o *IO) Remote(ctx context.Context, ref string) (v1.Image, error) {
	r, err := o.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	img, err := remote.Image(r, o.RemoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s from registry %s: %w", ref, r.Context().RegistryStr(), o.registryError(err, r))
	}
	if img, err = checkBounds(img, ref); err != nil {
		return nil, err
	}
	return o.meter.Image(img, ref), nil
}

// CheckWritable fails early when loc is a registry kiln cannot push to
// (unreachable, or no push permission), before any work is done.
func (o *IO) CheckWritable(ctx context.Context, loc Location) error {
	if loc.Kind != Registry {
		return nil
	}
	r, err := o.ParseReference(loc.Name)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", loc.Name, err)
	}
	if err := remote.CheckPushPermission(r, o.keychain, o.transport); err != nil {
		return fmt.Errorf("cannot push %s to registry %s: %w", loc.Name, r.Context().RegistryStr(), o.registryError(err, r))
	}
	return nil
}

// Write puts img at loc. Nothing is visible at loc until every blob is in
// place. Layers read from a registry on the way (into the store, a layout
// or an archive) show as a pull on a terminal.
func (o *IO) Write(ctx context.Context, loc Location, img v1.Image) error {
	switch loc.Kind {
	case Store:
		if o.store == nil {
			return errors.New("no local store configured")
		}
		defer progress.Track(img, o.store.hasBlob)()
		return o.store.Put(ctx, loc.Name, img)
	case Registry:
		r, err := o.ParseReference(loc.Name)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", loc.Name, err)
		}
		opts := o.RemoteOptions(ctx)
		line := progress.New(o.progress, "Pushing "+loc.Name)
		var shown chan struct{}
		if line != nil {
			updates := make(chan v1.Update, 16)
			opts = append(opts, remote.WithProgress(updates))
			shown = make(chan struct{})
			go func() {
				defer close(shown)
				for u := range updates {
					line.Update(u.Complete, u.Total)
				}
			}()
		}
		err = remote.Write(r, img, opts...)
		if shown != nil {
			<-shown // remote.Write closes updates when it returns
			line.End()
		}
		if err != nil {
			return fmt.Errorf("pushing %s to registry %s: %w", loc.Name, r.Context().RegistryStr(), o.registryError(err, r))
		}
		return nil
	case Layout:
		defer progress.Track(img, hasBlobIn(loc.Path))()
		return writeLayout(ctx, loc, img)
	case Archive:
		defer progress.Track(img, nil)()
		return writeArchive(loc, img)
	}
	return fmt.Errorf("writing %s: unknown kind %v", loc, loc.Kind)
}

// writeLayout writes into an existing layout (blobs first, index last) or
// builds a new one beside the target and renames it into place.
func writeLayout(ctx context.Context, loc Location, img v1.Image) error {
	if _, err := os.Stat(filepath.Join(loc.Path, "index.json")); err == nil {
		p := layout.Path(loc.Path)
		if err := p.WriteImage(img); err != nil {
			return fmt.Errorf("writing %s: %w", loc, err)
		}
		if err := replaceInIndex(p, img, loc.Name); err != nil {
			return fmt.Errorf("writing %s: %w", loc, err)
		}
		return nil
	}
	if entries, err := os.ReadDir(loc.Path); err == nil && len(entries) > 0 {
		return fmt.Errorf("writing %s: %s exists and is not an OCI layout", loc, loc.Path)
	}
	parent := filepath.Dir(filepath.Clean(loc.Path))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	tmp, err := os.MkdirTemp(parent, ".kiln-layout-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	opts := []layout.Option{}
	if loc.Name != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{refNameAnnotation: loc.Name}))
	}
	if err := p.AppendImage(img, opts...); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	os.Remove(loc.Path) // an empty directory may stand there
	if err := os.Rename(tmp, loc.Path); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	return os.Chmod(loc.Path, 0o755)
}

// writeArchive writes a docker-archive tarball to a temp file beside the
// target and renames it into place.
func writeArchive(loc Location, img v1.Image) error {
	n := loc.Name
	if n == "" {
		n = "image:latest"
	}
	tag, err := name.NewTag(n, name.WeakValidation)
	if err != nil {
		return fmt.Errorf("writing %s: image name: %w", loc, err)
	}
	dir := filepath.Dir(filepath.Clean(loc.Path))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	f, err := os.CreateTemp(dir, ".kiln-archive-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := tarball.Write(tag, img, f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	if err := os.Rename(tmp, loc.Path); err != nil {
		return fmt.Errorf("writing %s: %w", loc, err)
	}
	return nil
}
