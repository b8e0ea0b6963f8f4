package imageio

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/internal/progress"
)

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"myapp", "myapp:latest"},
		{"myapp:v1", "myapp:v1"},
		{"localhost:5000/team/app", "localhost:5000/team/app:latest"},
		{"localhost:5000/team/app:v2", "localhost:5000/team/app:v2"},
	} {
		got, err := NormalizeName(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := NormalizeName("Bad Name!"); err == nil {
		t.Error("NormalizeName accepted an invalid name")
	}
}

func TestParseOutput(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Location
		wantErr string
	}{
		{in: "oci:/tmp/x", want: Location{Kind: Layout, Path: "/tmp/x", Name: "app:latest"}},
		{in: "docker-archive:/tmp/a.tar", want: Location{Kind: Archive, Path: "/tmp/a.tar", Name: "app:latest"}},
		{in: "oci:", wantErr: "needs a directory"},
		{in: "tar:/x", wantErr: "want oci:DIR"},
	} {
		got, err := ParseOutput(tc.in, "app:latest")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseOutput(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseOutput(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	store, err := OpenStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	io := New(store, WithKeychain(authn.NewMultiKeychain()))
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	for _, loc := range []Location{
		{Kind: Store, Name: "app:latest"},
		{Kind: Registry, Name: host + "/team/app:latest"},
		{Kind: Layout, Path: filepath.Join(dir, "layout"), Name: "app:latest"},
		{Kind: Layout, Path: filepath.Join(dir, "layout"), Name: "app:v2"},
		{Kind: Archive, Path: filepath.Join(dir, "out", "app.tar"), Name: "app:latest"},
	} {
		t.Run(loc.String(), func(t *testing.T) {
			if err := io.Write(ctx, loc, img); err != nil {
				t.Fatal(err)
			}
			back, err := io.Open(ctx, loc, true)
			if err != nil {
				t.Fatal(err)
			}
			got, err := back.Digest()
			if err != nil {
				t.Fatal(err)
			}
			// docker-archive does not keep the manifest bytes, only the config and layers.
			if loc.Kind == Archive {
				wc, _ := img.ConfigName()
				gc, _ := back.ConfigName()
				if wc != gc {
					t.Errorf("config %s, want %s", gc, wc)
				}
				return
			}
			if got != want {
				t.Errorf("digest %s, want %s", got, want)
			}
		})
	}
	entries, err := store.List()
	if err != nil || len(entries) != 1 || entries[0].Name != "app:latest" || entries[0].Digest != want {
		t.Errorf("List() = %+v, %v", entries, err)
	}
	if err := store.Remove("app"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Image("app"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after Remove, Image error = %v, want ErrNotFound", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".kiln-*"))
	left2, _ := filepath.Glob(filepath.Join(dir, "out", ".kiln-*"))
	if len(left)+len(left2) > 0 {
		t.Errorf("temp files left behind: %v %v", left, left2)
	}
}

func TestWriteLayoutRefusesNonLayoutDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(10, 1)
	err := New(nil).Write(context.Background(), Location{Kind: Layout, Path: dir}, img)
	if err == nil || !strings.Contains(err.Error(), "not an OCI layout") {
		t.Errorf("error = %v", err)
	}
}

func TestOpenUnreachableRegistryNamesReference(t *testing.T) {
	ref := "127.0.0.1:1/nothing/here:latest"
	_, err := New(nil).Open(context.Background(), Location{Kind: Registry, Name: ref}, true)
	if err == nil || !strings.Contains(err.Error(), ref) {
		t.Errorf("error = %v, want one naming %s", err, ref)
	}
}

func TestEnvKeychain(t *testing.T) {
	res, _ := name.NewRegistry("registry.example.com")
	for _, tc := range []struct {
		env, wantAuth string
		wantErr       bool
	}{
		{env: "", wantAuth: ""},
		{env: `{"registry.example.com": "Basic dXNlcjpwYXNz"}`, wantAuth: "Basic dXNlcjpwYXNz"},
		{env: `{"registry.example.com": "Bearer tok"}`, wantAuth: "Bearer tok"},
		{env: `{"other.example.com": "Bearer tok"}`, wantAuth: ""},
		{env: `not json`, wantErr: true},
	} {
		t.Setenv("CNB_REGISTRY_AUTH", tc.env)
		a, err := envKeychain{}.Resolve(res)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tc.env)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.env, err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		switch {
		case cfg.Auth != "":
			got = "Basic " + cfg.Auth
		case cfg.Username != "":
			got = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
		case cfg.RegistryToken != "":
			got = "Bearer " + cfg.RegistryToken
		}
		if got != tc.wantAuth {
			t.Errorf("%q: auth %q, want %q", tc.env, got, tc.wantAuth)
		}
	}
}

func TestNamesRegistry(t *testing.T) {
	for s, want := range map[string]bool{
		"kiln/debian-bookworm-run:latest": false,
		"run":                             false,
		"run:latest":                      false,
		"docker.io/kiln/run":              true,
		"index.docker.io/kiln/run@sha256:0000000000000000000000000000000000000000000000000000000000000000": true,
		"127.0.0.1:5000/team/run:latest": true,
		"localhost/run":                  true,
		"ghcr.io/o/run":                  true,
	} {
		if got := NamesRegistry(s); got != want {
			t.Errorf("NamesRegistry(%q) = %v, want %v", s, got, want)
		}
	}
}

// A store name that is neither in the local store nor pullable says both,
// so a mistyped local name does not read as a registry failure alone.
func TestOpenStoreFallbackSaysBoth(t *testing.T) {
	store, err := OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	ref := "127.0.0.1:1/my-bulder:latest"
	_, err = New(store).Open(context.Background(), Location{Kind: Store, Name: ref}, true)
	if err == nil || !strings.Contains(err.Error(), ref+" is not in the local store") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %v: want it to name the local store and the registry", err)
	}
}

func TestInsecureRegistries(t *testing.T) {
	o := New(nil, WithInsecureRegistries("registry.internal:5000"))
	for ref, want := range map[string]string{
		"registry.internal:5000/app:1": "http",
		"registry.other:5000/app:1":    "https",
		"127.0.0.1:5000/app:1":         "http",
	} {
		r, err := o.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Context().Registry.Scheme(); got != want {
			t.Errorf("%s: scheme %s, want %s", ref, got, want)
		}
	}
}

func TestPushProgress(t *testing.T) {
	defer func(f func(io.Writer) bool) { progress.IsTerminal = f }(progress.IsTerminal)
	progress.IsTerminal = func(io.Writer) bool { return true }
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img, err := random.Image(6<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:latest"
	if err := New(nil, WithProgress(&buf)).Write(context.Background(), Location{Kind: Registry, Name: ref}, img); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "Pushing "+ref+": ") || !strings.Contains(out, "(100%") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress %q", out)
	}
	// not a terminal: nothing
	progress.IsTerminal = func(io.Writer) bool { return false }
	buf.Reset()
	if err := New(nil, WithProgress(&buf)).Write(context.Background(), Location{Kind: Registry, Name: ref}, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("progress on a pipe: %q", buf.String())
	}
}

// TestPullProgress: a registry image's layers written into the local store
// show as a pull on a terminal, once (blobs the store has are not pulled
// again), and not at all when piped.
func TestPullProgress(t *testing.T) {
	defer func(f func(io.Writer) bool) { progress.IsTerminal = f }(progress.IsTerminal)
	progress.IsTerminal = func(io.Writer) bool { return true }
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img, err := random.Image(6<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/run:latest"
	ctx := context.Background()
	if err := New(nil).Write(ctx, Location{Kind: Registry, Name: ref}, img); err != nil {
		t.Fatal(err)
	}
	pullInto := func(store *LocalStore, w io.Writer) {
		t.Helper()
		o := New(store, WithProgress(w))
		got, err := o.Open(ctx, Location{Kind: Store, Name: ref}, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Write(ctx, Location{Kind: Store, Name: "app:latest"}, got); err != nil {
			t.Fatal(err)
		}
	}
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	pullInto(store, &buf)
	if out := buf.String(); !strings.Contains(out, "Pulling "+ref+": ") || !strings.Contains(out, "(100%") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress %q", out)
	}
	buf.Reset()
	pullInto(store, &buf) // the store has every blob now
	if buf.Len() != 0 {
		t.Errorf("a pull of blobs the store has drew %q", buf.String())
	}
	if _, err := store.Image("app:latest"); err != nil {
		t.Errorf("the store lacks the image: %v", err)
	}

	// not a terminal: nothing
	progress.IsTerminal = func(io.Writer) bool { return false }
	store, err = OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pullInto(store, &buf)
	if buf.Len() != 0 {
		t.Errorf("progress on a pipe: %q", buf.String())
	}
}
