package debian

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
	"github.com/kiln-build/kiln/buildpacks/internal/unpack"
)

// Defaults of Archive.
const (
	DefaultMirror  = "http://deb.debian.org/debian"
	DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
)

// Suites maps Debian's VERSION_ID (CNB_TARGET_DISTRO_VERSION) to suite
// code names.
var Suites = map[string]string{"11": "bullseye", "12": "bookworm", "13": "trixie"}

// Archive is one suite of a Debian mirror.
type Archive struct {
	Mirror    string // DefaultMirror when empty
	Suite     string // such as bookworm
	Component string // "main" when empty
	Arch      string // Debian architecture, such as amd64
	// Keyring holds the keys InRelease must be signed with
	// (DefaultKeyring when empty).
	Keyring string
	Fetch   *fetch.Client
	Logf    func(string, ...any)
}

func (a *Archive) mirror() string {
	if a.Mirror == "" {
		return DefaultMirror
	}
	return strings.TrimRight(a.Mirror, "/")
}

func (a *Archive) component() string {
	if a.Component == "" {
		return "main"
	}
	return a.Component
}

func (a *Archive) logf(format string, args ...any) {
	if a.Logf != nil {
		a.Logf(format, args...)
	}
}

// Release is a verified InRelease: where the suite's Packages index is
// and its SHA-256.
type Release struct {
	// PackagesSHA256 identifies the index; it changes when the suite
	// does (at Debian point releases for a stable suite).
	PackagesSHA256 string
	url            string
}

// Release fetches the suite's InRelease and checks its signature with
// gpgv against the keyring.
func (a *Archive) Release(ctx context.Context) (*Release, error) {
	base := a.mirror() + "/dists/" + a.Suite
	inRelease, err := a.Fetch.Get(ctx, base+"/InRelease", nil, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("fetching the %s release file: %w", a.Suite, err)
	}
	signed, err := a.verify(ctx, inRelease)
	if err != nil {
		return nil, err
	}
	rel, err := parseRelease(signed)
	if err != nil {
		return nil, fmt.Errorf("%s/InRelease: %w", base, err)
	}
	var file fileSum
	var found bool
	for _, name := range []string{"Packages.xz", "Packages.gz", "Packages"} {
		p := a.component() + "/binary-" + a.Arch + "/" + name
		if file, found = rel.files[p]; found {
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("%s/InRelease lists no Packages index for %s/%s", base, a.component(), a.Arch)
	}
	url := base + "/" + file.path
	if rel.byHash {
		// immune to the index changing between InRelease and the fetch
		url = base + "/" + path.Dir(file.path) + "/by-hash/SHA256/" + file.sha256
	}
	return &Release{PackagesSHA256: file.sha256, url: url}, nil
}

// Index fetches the suite's verified Packages index.
func (a *Archive) Index(ctx context.Context) (*Index, error) {
	rel, err := a.Release(ctx)
	if err != nil {
		return nil, err
	}
	return a.IndexOf(ctx, rel)
}

// IndexOf fetches the Packages index rel names and checks its SHA-256.
func (a *Archive) IndexOf(ctx context.Context, rel *Release) (*Index, error) {
	d, err := fetch.Hex("sha256", rel.PackagesSHA256)
	if err != nil {
		return nil, fmt.Errorf("%s InRelease: %w", a.Suite, err)
	}
	tmp, err := os.CreateTemp("", "Packages-")
	if err != nil {
		return nil, fmt.Errorf("creating a file for the package index: %w", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := a.Fetch.Download(ctx, rel.url, tmp.Name(), &d); err != nil {
		return nil, fmt.Errorf("fetching the %s package index: %w", a.Suite, err)
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("opening the package index: %w", err)
	}
	defer f.Close()
	r, err := unpack.Decompress(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel.url, err)
	}
	defer r.Close()
	ix, err := ParsePackages(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel.url, err)
	}
	a.logf("Read the %s/%s package index for %s (%d packages)", a.Suite, a.component(), a.Arch, ix.Len())
	return ix, nil
}

// verify checks the clear-signed InRelease with gpgv and returns the
// signed text.
func (a *Archive) verify(ctx context.Context, inRelease []byte) ([]byte, error) {
	keyring := a.Keyring
	if keyring == "" {
		keyring = DefaultKeyring
	}
	if _, err := os.Stat(keyring); err != nil {
		//lint:ignore ST1005 the message starts with a proper noun
		return nil, fmt.Errorf("Debian archive keyring %s: %w (install debian-archive-keyring in the build image, or set BP_DEBIAN_KEYRING)", keyring, err)
	}
	gpgv, err := exec.LookPath("gpgv")
	if err != nil {
		return nil, fmt.Errorf("gpgv is needed to check the signature of Debian's package index: %w (install gpgv in the build image)", err)
	}
	cmd := exec.CommandContext(ctx, gpgv, "--quiet", "--keyring", keyring, "--output", "-", "-")
	cmd.Stdin = bytes.NewReader(inRelease)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("SECURITY ERROR: the signature of %s's InRelease does not check out with %s: %v: %s", a.Suite, keyring, err, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), nil
}

type fileSum struct {
	path   string
	sha256 string
	size   int64
}

type release struct {
	byHash bool
	files  map[string]fileSum
}

// parseRelease reads the SHA256 file list of a Release file.
func parseRelease(data []byte) (release, error) {
	r := release{files: map[string]fileSum{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inSHA := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			k, v, _ := strings.Cut(line, ":")
			inSHA = k == "SHA256"
			if k == "Acquire-By-Hash" && strings.TrimSpace(v) == "yes" {
				r.byHash = true
			}
			continue
		}
		if !inSHA {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return r, fmt.Errorf("bad SHA256 line %q", line)
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return r, fmt.Errorf("bad size in %q", line)
		}
		r.files[f[2]] = fileSum{path: f[2], sha256: f[0], size: size}
	}
	if len(r.files) == 0 {
		return r, errors.New("no SHA256 file list")
	}
	return r, sc.Err()
}

// Install downloads pkgs and unpacks their files into dest, as if dest
// were /. Absolute links are made relative inside dest; paths skip
// returns true for (slash-separated, relative) are left out. The log gets
// one line before and one after, not one per package.
func (a *Archive) Install(ctx context.Context, pkgs []*Package, dest string, skip func(string) bool) error {
	tmp, err := os.MkdirTemp("", "debs-")
	if err != nil {
		return fmt.Errorf("creating a download directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	var size int64
	for _, p := range pkgs {
		size += p.Size
	}
	a.logf("Downloading %d Debian package(s) from %s (%.1f MB)", len(pkgs), a.mirror(), float64(size)/1e6)
	quiet := *a.Fetch
	quiet.Logf = nil
	var names []string
	for _, p := range pkgs {
		if p.Filename == "" || p.SHA256 == "" {
			return fmt.Errorf("package %s: the index gives no file or SHA256", p.Name)
		}
		d, err := fetch.Hex("sha256", p.SHA256)
		if err != nil {
			return fmt.Errorf("package %s: %w", p.Name, err)
		}
		deb := filepath.Join(tmp, p.Name+".deb")
		if err := quiet.Download(ctx, a.mirror()+"/"+p.Filename, deb, &d); err != nil {
			return fmt.Errorf("fetching package %s: %w", p.Name, err)
		}
		if err := ExtractDeb(deb, dest, skip); err != nil {
			return fmt.Errorf("unpacking package %s: %w", p.Name, err)
		}
		names = append(names, p.Name+" "+p.Version)
	}
	a.logf("Installed %s", strings.Join(names, ", "))
	return nil
}

// ExtractDeb unpacks the data member of the .deb file at path into dest.
func ExtractDeb(path, dest string, skip func(string) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	data, err := arMember(f, "data.tar")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return unpack.Tar(data, dest, unpack.Options{RebaseAbsoluteLinks: true, Skip: skip})
}

// arMember returns a reader for the first member of the ar archive r whose
// name starts with prefix.
func arMember(r io.Reader, prefix string) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, errors.New("not a Debian package (no ar header)")
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			return nil, fmt.Errorf("no %s* member", prefix)
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad ar member size for %q", name)
		}
		if strings.HasPrefix(name, prefix) {
			return io.LimitReader(br, size), nil
		}
		skipN := size + size%2 // members are 2-byte aligned
		if _, err := io.CopyN(io.Discard, br, skipN); err != nil {
			return nil, fmt.Errorf("reading ar member %q: %w", name, err)
		}
	}
}

// DocPaths reports whether a package path is documentation, manual pages
// or translations, which a runtime layer does not need.
func DocPaths(name string) bool {
	switch name {
	case "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/locale", "usr/share/bug":
		return true
	}
	return false
}
