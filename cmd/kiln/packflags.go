package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/sandbox"
	"github.com/kiln-build/kiln/lifecycle/sbom"
)

// packBuildFlags are kiln build's flags that mean what pack build's do.
func packBuildFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "also write the image under this name, in the same place (the registry with --publish, else the local store) (repeatable)"},
		&cli.StringFlag{Name: "report-output-dir", Usage: "write report.toml (Platform API 0.15's: [image] tags, digest and manifest-size) into `DIR`"},
		&cli.StringFlag{Name: "sbom-output-dir", Usage: "write the buildpacks' SBOM files into `DIR`, as pack does: the image's under launch/<buildpack>/[<layer>/]sbom.<ext>, the build's (never in the image) under build/<buildpack>/[<layer>/]sbom.<ext>, with build.toml's legacy BOM in build/sbom.legacy.json"},
		&cli.StringFlag{Name: "previous-image", Usage: "reuse the layers of this image rather than those of NAME's last build"},
		&cli.StringFlag{Name: "creation-time", Usage: "the image's creation time and every new file's: epoch seconds or \"now\" (default: $SOURCE_DATE_EPOCH, else 1980-01-01, so builds are reproducible)"},
		&cli.StringSliceFlag{Name: "volume", Usage: "mount HOST:TARGET[:ro|rw] into the build containers, read-only unless rw; TARGET may not be under /workspace, /layers, /cnb or /tmp, so nothing of it enters the image (repeatable)"},
		&cli.StringFlag{Name: "pull-policy", Value: create.PullIfNotPresent, Usage: "where the builder and run images come from: if-not-present (the local store, else the registry), always (the registry), never (the local store only)"},
		&cli.StringSliceFlag{Name: "insecure-registry", Usage: "reach this registry (HOST[:PORT]) over plain HTTP when HTTPS fails; loopback registries always are (repeatable)"},
		&cli.StringSliceFlag{Name: "binding", Usage: "service binding NAME=DIR: DIR (holding type and one file per key) is mounted read-only at /platform/bindings/NAME, for buildpacks to read and no layer to keep (repeatable)"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors and the built image's name and digest"},
		&cli.BoolFlag{Name: "verbose", Usage: "also print how long each phase took"},
		&cli.BoolFlag{Name: "timestamps", Usage: "start every output line with the time"},
		&cli.BoolFlag{Name: "no-color", Usage: "accepted for pack's sake: kiln prints no colours"},
	}
}

// buildOutput is where kiln build's progress goes, as -q and --timestamps
// say.
func buildOutput(c *cli.Context) io.Writer {
	w := c.App.Writer
	if c.Bool("quiet") {
		return io.Discard
	}
	if c.Bool("timestamps") {
		return &stampWriter{w: w, now: time.Now}
	}
	return w
}

// applyPackFlags sets the build options the pack flags give.
func applyPackFlags(c *cli.Context, o *create.Options) error {
	if v := c.String("creation-time"); v != "" {
		t, err := parseCreationTime(v)
		if err != nil {
			return usageError("build: %v", err)
		}
		o.ModTime = t
	}
	if v := c.String("previous-image"); v != "" {
		if o.Output.Kind != imageio.Store && o.Output.Kind != imageio.Registry {
			return usageError("build: --previous-image needs the image in the local store or a registry (not --output)")
		}
		n, err := imageio.NormalizeName(v)
		if err != nil {
			return usageError("build: --previous-image: %v", err)
		}
		o.PreviousImage = n
	}
	switch p := c.String("pull-policy"); p {
	case create.PullIfNotPresent, create.PullAlways, create.PullNever:
		o.PullPolicy = p
	default:
		return usageError("build: --pull-policy %q: want if-not-present, always or never", p)
	}
	for _, v := range c.StringSlice("volume") {
		m, err := parseVolume(v)
		if err == nil {
			err = create.CheckVolume(m)
		}
		if err != nil {
			return usageError("build: --volume %s: %v", v, err)
		}
		o.Volumes = append(o.Volumes, m)
	}
	for _, b := range c.StringSlice("binding") {
		m, err := parseBinding(b)
		if err == nil {
			err = create.CheckVolume(m)
		}
		if err != nil {
			return usageError("build: --binding %s: %v", b, err)
		}
		o.Volumes = append(o.Volumes, m)
	}
	o.KeepBuildSBOM = c.String("sbom-output-dir") != ""
	if len(c.StringSlice("tag")) > 0 && o.Output.Kind != imageio.Store && o.Output.Kind != imageio.Registry {
		return usageError("build: --tag needs the image in the local store or a registry (not --output)")
	}
	return nil
}

// parseCreationTime reads --creation-time: epoch seconds or "now".
func parseCreationTime(v string) (time.Time, error) {
	if v == "now" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 253402300799 {
		return time.Time{}, fmt.Errorf("--creation-time %q: want seconds since the epoch or \"now\"", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// parseVolume reads HOST:TARGET[:ro|rw].
func parseVolume(v string) (sandbox.Mount, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return sandbox.Mount{}, fmt.Errorf("want HOST:TARGET[:ro|rw]")
	}
	src, err := filepath.Abs(parts[0])
	if err != nil {
		return sandbox.Mount{}, err
	}
	m := sandbox.Mount{Source: src, Destination: parts[1], ReadOnly: true}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
		case "rw":
			m.ReadOnly = false
		default:
			return sandbox.Mount{}, fmt.Errorf("mode %q: want ro or rw", parts[2])
		}
	}
	return m, nil
}

// parseBinding reads --binding NAME=DIR: a service binding directory per
// the platform spec (a type file and one file per key).
func parseBinding(v string) (sandbox.Mount, error) {
	n, dir, ok := strings.Cut(v, "=")
	if !ok || n == "" || dir == "" || strings.ContainsAny(n, "/\x00") || n == "." || n == ".." {
		return sandbox.Mount{}, fmt.Errorf("want NAME=DIR")
	}
	src, err := filepath.Abs(dir)
	if err != nil {
		return sandbox.Mount{}, err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return sandbox.Mount{}, err
	}
	if !fi.IsDir() {
		return sandbox.Mount{}, fmt.Errorf("%s is not a directory", src)
	}
	if t, err := os.Stat(filepath.Join(src, "type")); err != nil || !t.Mode().IsRegular() {
		return sandbox.Mount{}, fmt.Errorf("%s has no type file (a binding names its type in DIR/type)", src)
	}
	return sandbox.Mount{Source: src, Destination: create.PlatformPath + "/bindings/" + n, ReadOnly: true}, nil
}

// writeTags writes the built image under each --tag, in the place the
// image went.
func writeTags(c *cli.Context, iio *imageio.IO, res *create.Result) ([]string, error) {
	var tags []string
	if len(c.StringSlice("tag")) == 0 {
		return nil, nil
	}
	// A multi-platform build wrote an index: it is tagged whole.
	idx, img, err := iio.OpenIndex(c.Context, res.Output, false)
	if err != nil {
		return nil, fmt.Errorf("reading back %s: %w", res.Output.Name, err)
	}
	for _, t := range c.StringSlice("tag") {
		n, err := imageio.NormalizeName(t)
		if err != nil {
			return tags, usageError("build: --tag: %v", err)
		}
		loc := imageio.Location{Kind: res.Output.Kind, Name: n}
		if idx != nil {
			err = iio.WriteIndex(c.Context, loc, idx)
		} else {
			err = iio.Write(c.Context, loc, img)
		}
		if err != nil {
			return tags, fmt.Errorf("writing the tag %s: %w", n, err)
		}
		tags = append(tags, n)
	}
	return tags, nil
}

// written is the built image read back from where the build wrote it
// (the build's own value refers to layer files it has removed).
func written(c *cli.Context, iio *imageio.IO, res *create.Result) (v1.Image, error) {
	img, err := iio.Open(c.Context, res.Output, false)
	if err != nil {
		return nil, fmt.Errorf("reading back %s: %w", res.Output.Name, err)
	}
	return img, nil
}

// writeSBOMDir writes the buildpack SBOM files into dir (--sbom-output-dir):
// the built image's launch SBOMs and the build's.
func writeSBOMDir(c *cli.Context, iio *imageio.IO, dir string, res *create.Result) error {
	img, err := written(c, iio, res)
	if err != nil {
		return err
	}
	files, err := sbom.Files(c.Context, img)
	if err != nil {
		return fmt.Errorf("--sbom-output-dir: %w", err)
	}
	return sbom.WriteFiles(dir, append(files, res.BuildSBOM...))
}

// writeReportTOML writes report.toml into dir, as Platform API 0.15 lays
// it out: [image] tags, digest and manifest-size. There is no [build]
// table: since Platform API 0.9 the legacy build BOM it held goes to the
// build SBOMs (--sbom-output-dir's build/sbom.legacy.json), and the
// reference lifecycle writes none either.
func writeReportTOML(dir string, res *create.Result, tags []string) error {
	raw, err := res.Image.RawManifest()
	if err != nil {
		return err
	}
	var rep struct {
		Image struct {
			Tags         []string `toml:"tags"`
			Digest       string   `toml:"digest"`
			ManifestSize int      `toml:"manifest-size"`
		} `toml:"image"`
	}
	rep.Image.Tags = append([]string{res.Output.Name}, tags...)
	rep.Image.Digest = res.Digest.String()
	rep.Image.ManifestSize = len(raw)
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(rep); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing report.toml: %w", err)
	}
	p := filepath.Join(dir, "report.toml")
	if err := os.WriteFile(p+".tmp", b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}

// stampWriter starts every line with the time (--timestamps).
type stampWriter struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	midLine bool
}

func (s *stampWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := len(p)
	var out bytes.Buffer
	for len(p) > 0 {
		if !s.midLine {
			out.WriteString(s.now().Format("2006/01/02 15:04:05.000000 "))
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			out.Write(p)
			s.midLine = true
			break
		}
		out.Write(p[:i+1])
		s.midLine = false
		p = p[i+1:]
	}
	if _, err := s.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return total, nil
}
