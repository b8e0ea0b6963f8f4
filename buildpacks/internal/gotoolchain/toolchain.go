package gotoolchain

import (
	"context"
	"fmt"
	"go/version"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/kiln-build/kiln/buildpacks/internal/fetch"
	"github.com/kiln-build/kiln/buildpacks/internal/unpack"
)

// ModulePath is the module Go toolchains are published as.
const ModulePath = "golang.org/toolchain"

// Source downloads toolchains from a module proxy.
type Source struct {
	// Proxy is the module proxy base URL (see ProxyFromEnv).
	Proxy string
	// SumDB verifies downloads; nil skips verification (GOSUMDB=off).
	SumDB *SumDB
	// Fetch does the HTTP work.
	Fetch *fetch.Client
	// Logf reports progress; nil is silent.
	Logf func(string, ...any)
}

func (s *Source) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// ModuleVersion is the golang.org/toolchain version of Go goVersion
// ("1.22.5", "1.23rc1") for goos/goarch.
func ModuleVersion(goVersion, goos, goarch string) string {
	return "v0.0.1-go" + goVersion + "." + goos + "-" + goarch
}

func (s *Source) moduleURL(file string) (string, error) {
	esc, err := module.EscapePath(ModulePath)
	if err != nil {
		return "", err
	}
	return s.Proxy + "/" + esc + "/@v/" + file, nil
}

// Versions lists the Go versions ("1.22.5", "1.23rc1") the proxy has for
// goos/goarch, lowest first.
func (s *Source) Versions(ctx context.Context, goos, goarch string) ([]string, error) {
	u, err := s.moduleURL("list")
	if err != nil {
		return nil, err
	}
	data, err := s.Fetch.Get(ctx, u, nil, 4<<20)
	if err != nil {
		return nil, fmt.Errorf("listing Go toolchains: %w", err)
	}
	return ParseList(string(data), goos, goarch), nil
}

// ParseList extracts the Go versions for goos/goarch from a proxy's
// @v/list answer, sorted lowest first, without duplicates.
func ParseList(list, goos, goarch string) []string {
	suffix := "." + goos + "-" + goarch
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(list, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, "v0.0.1-go")
		if !ok {
			continue
		}
		v, ok := strings.CutSuffix(rest, suffix)
		if !ok || !version.IsValid("go"+v) || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return version.Compare("go"+out[i], "go"+out[j]) < 0 })
	return out
}

// Install downloads Go goVersion for goos/goarch, verifies it, and unpacks
// it into dest (which becomes its GOROOT: dest/bin/go).
func (s *Source) Install(ctx context.Context, goVersion, goos, goarch, dest string) error {
	modVer := ModuleVersion(goVersion, goos, goarch)
	u, err := s.moduleURL(modVer + ".zip")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "go-toolchain-")
	if err != nil {
		return fmt.Errorf("creating a download directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	zipPath := filepath.Join(tmp, "toolchain.zip")
	if err := s.Fetch.Download(ctx, u, zipPath, nil); err != nil {
		if fetch.NotFound(err) {
			//lint:ignore ST1005 the message starts with a proper noun
			return fmt.Errorf("Go %s for %s/%s is not on %s: %w", goVersion, goos, goarch, s.Proxy, err)
		}
		return err
	}
	if err := s.verify(ctx, modVer, zipPath); err != nil {
		return err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dest, err)
	}
	// entries are golang.org/toolchain@<version>/<path>
	err = unpack.Zip(zipPath, dest, unpack.Options{
		StripComponents: 2,
		Executable: func(name string) bool {
			// as the go command does after a toolchain download
			return strings.HasPrefix(name, "bin/") || strings.HasPrefix(name, "pkg/tool/")
		},
	})
	if err != nil {
		return fmt.Errorf("unpacking Go %s: %w", goVersion, err)
	}
	if _, err := os.Stat(filepath.Join(dest, "bin", "go")); err != nil {
		//lint:ignore ST1005 the message starts with a proper noun
		return fmt.Errorf("Go %s from %s has no bin/go: %w", goVersion, u, err)
	}
	return nil
}

// verify checks the zip's h1: hash against the checksum database.
func (s *Source) verify(ctx context.Context, modVer, zipPath string) error {
	got, err := dirhash.HashZip(zipPath, dirhash.Hash1)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", zipPath, err)
	}
	if s.SumDB == nil {
		s.logf("WARNING: GOSUMDB=off: %s@%s is not verified (%s)", ModulePath, modVer, got)
		return nil
	}
	want, err := s.lookup(ctx, modVer)
	source := s.SumDB.Name()
	if err != nil {
		p, ok := pinned[modVer]
		if !ok || strings.Contains(err.Error(), "SECURITY ERROR") {
			return fmt.Errorf("%w (set GOSUMDB=off to skip the check, at your own risk)", err)
		}
		s.logf("WARNING: %v; checking against kiln's pinned checksums instead", err)
		want, source = p, "kiln's pinned checksums"
	}
	if got != want {
		return fmt.Errorf("SECURITY ERROR: %s@%s from %s has hash %s, but %s says %s", ModulePath, modVer, s.Proxy, got, source, want)
	}
	s.logf("Verified %s@%s against %s (%s)", ModulePath, modVer, source, got)
	return nil
}

// lookup asks the checksum database for the h1: hash of the module zip.
func (s *Source) lookup(ctx context.Context, modVer string) (string, error) {
	base := s.SumDB.URL
	if base == "" {
		base = "https://" + s.SumDB.Name()
		supported := s.Proxy + "/sumdb/" + s.SumDB.Name() + "/supported"
		if _, err := s.Fetch.Get(ctx, supported, nil, 1<<10); err == nil {
			base = s.Proxy + "/sumdb/" + s.SumDB.Name()
		}
	}
	ops := &sumOps{ctx: ctx, fetch: s.Fetch, base: base, key: s.SumDB.Key, config: map[string][]byte{}, cache: map[string][]byte{}}
	lines, err := sumdb.NewClient(ops).Lookup(ModulePath, modVer)
	if err != nil {
		if ops.securityErr != "" {
			return "", fmt.Errorf("SECURITY ERROR from checksum database %s: %s", s.SumDB.Name(), ops.securityErr)
		}
		return "", fmt.Errorf("looking up %s@%s in checksum database %s (%s): %w", ModulePath, modVer, s.SumDB.Name(), base, err)
	}
	prefix := ModulePath + " " + modVer + " "
	for _, l := range lines {
		if h, ok := strings.CutPrefix(l, prefix); ok {
			return h, nil
		}
	}
	return "", fmt.Errorf("checksum database %s has no hash for %s@%s", s.SumDB.Name(), ModulePath, modVer)
}

// sumOps serves sumdb.Client from memory and HTTP: every build starts
// from the database's current signed tree, which the client checks
// against the verifier key.
type sumOps struct {
	ctx         context.Context
	fetch       *fetch.Client
	base        string
	key         string
	mu          sync.Mutex
	config      map[string][]byte
	cache       map[string][]byte
	securityErr string
}

func (o *sumOps) ReadRemote(path string) ([]byte, error) {
	return o.fetch.Get(o.ctx, o.base+path, nil, 16<<20)
}

func (o *sumOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.config[file], nil
}

func (o *sumOps) WriteConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if string(o.config[file]) != string(old) {
		return sumdb.ErrWriteConflict
	}
	o.config[file] = new
	return nil
}

func (o *sumOps) ReadCache(file string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b, ok := o.cache[file]; ok {
		return b, nil
	}
	return nil, fs.ErrNotExist
}

func (o *sumOps) WriteCache(file string, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cache[file] = data
}

func (o *sumOps) Log(string) {}

func (o *sumOps) SecurityError(msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.securityErr = msg
}

var _ sumdb.ClientOps = (*sumOps)(nil)
