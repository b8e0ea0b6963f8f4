package imageio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// staticKeychain hands the same user and password to every registry.
type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pass}), nil
}

// withBasicAuth answers 401 with a Basic challenge unless the request
// carries user:pass.
func withBasicAuth(h http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="kiln-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveRegistry starts an in-process registry behind h's wrapper and
// returns its host.
func serveRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(wrap(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func noWrap(h http.Handler) http.Handler { return h }

func TestIsNotFoundRegistry(t *testing.T) {
	ctx := context.Background()
	open := serveRegistry(t, noWrap)
	locked := serveRegistry(t, func(h http.Handler) http.Handler { return withBasicAuth(h, "kiln", "right") })
	failing := serveRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				http.Error(w, "boom", http.StatusBadRequest)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	img, _ := random.Image(100, 1)
	for _, host := range []string{open, locked} {
		iio := New(nil, WithKeychain(staticKeychain{"kiln", "right"}))
		if err := iio.Write(ctx, Location{Kind: Registry, Name: host + "/team/app:v1"}, img); err != nil {
			t.Fatal(err)
		}
	}
	right := New(nil, WithKeychain(staticKeychain{"kiln", "right"}))
	wrong := New(nil, WithKeychain(staticKeychain{"kiln", "wrong"}))
	anon := New(nil, WithKeychain(authn.NewMultiKeychain()))
	for _, tc := range []struct {
		name         string
		io           *IO
		ref          string
		notFound     bool
		authRejected bool
	}{
		{name: "present", io: anon, ref: open + "/team/app:v1"},
		{name: "unknown tag", io: anon, ref: open + "/team/app:v2", notFound: true},
		{name: "unknown repository", io: anon, ref: open + "/team/other:v1", notFound: true},
		{name: "password, unknown tag", io: right, ref: locked + "/team/app:v2", notFound: true},
		{name: "wrong password", io: wrong, ref: locked + "/team/app:v2", authRejected: true},
		{name: "no password", io: anon, ref: locked + "/team/app:v1", authRejected: true},
		{name: "400", io: anon, ref: failing + "/team/app:v1"},
		{name: "unreachable", io: anon, ref: "127.0.0.1:1/team/app:v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.io.Remote(ctx, tc.ref)
			if tc.name == "present" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := IsNotFound(err); got != tc.notFound {
				t.Errorf("IsNotFound(%v) = %v, want %v", err, got, tc.notFound)
			}
			if got := IsAuthError(err); got != tc.authRejected {
				t.Errorf("IsAuthError(%v) = %v, want %v", err, got, tc.authRejected)
			}
		})
	}
}

func TestIsNotFoundErrors(t *testing.T) {
	req := func(path string) *http.Request {
		return &http.Request{Method: http.MethodHead, URL: &url.URL{Path: path}}
	}
	diag := func(code transport.ErrorCode) []transport.Diagnostic { return []transport.Diagnostic{{Code: code}} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"store", fmt.Errorf("app: %w", ErrNotFound), true},
		{"manifest unknown", &transport.Error{StatusCode: 404, Errors: diag(transport.ManifestUnknownErrorCode)}, true},
		{"name unknown", &transport.Error{StatusCode: 404, Errors: diag(transport.NameUnknownErrorCode)}, true},
		{"NOT_FOUND", &transport.Error{StatusCode: 404, Errors: diag("NOT_FOUND")}, true},
		{"bare 404 on manifest", &transport.Error{StatusCode: 404, Request: req("/v2/a/manifests/latest")}, true},
		{"bare 404 on blob", &transport.Error{StatusCode: 404, Request: req("/v2/a/blobs/sha256:00")}, false},
		{"blob unknown", &transport.Error{StatusCode: 404, Errors: diag(transport.BlobUnknownErrorCode)}, false},
		{"401", &transport.Error{StatusCode: 401}, false},
		{"403 denied", &transport.Error{StatusCode: 403, Errors: diag(transport.DeniedErrorCode)}, false},
		// Some registries answer 404 with UNAUTHORIZED for a private repo.
		{"404 unauthorized", &transport.Error{StatusCode: 404, Errors: diag(transport.UnauthorizedErrorCode)}, false},
		{"500", &transport.Error{StatusCode: 500}, false},
		{"timeout", fmt.Errorf("pulling: %w", context.DeadlineExceeded), false},
		{"other", errors.New("connection refused"), false},
	} {
		if got := IsNotFound(tc.err); got != tc.want {
			t.Errorf("%s: IsNotFound(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestIsNotFoundLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := OpenStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	iio := New(store, WithKeychain(authn.NewMultiKeychain()))
	img, _ := random.Image(100, 1)
	layoutDir, archive := filepath.Join(dir, "layout"), filepath.Join(dir, "app.tar")
	for _, loc := range []Location{
		{Kind: Layout, Path: layoutDir, Name: "app:v1"},
		{Kind: Archive, Path: archive, Name: "app:v1"},
	} {
		if err := iio.Write(ctx, loc, img); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.tar"), []byte("not a tar"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		loc  Location
		want bool
	}{
		{Location{Kind: Store, Name: "app:v1"}, true},
		{Location{Kind: Layout, Path: filepath.Join(dir, "none"), Name: "app:v1"}, true},
		{Location{Kind: Layout, Path: layoutDir, Name: "app:v2"}, true},
		{Location{Kind: Archive, Path: filepath.Join(dir, "none.tar"), Name: "app:v1"}, true},
		{Location{Kind: Archive, Path: archive, Name: "app:v2"}, true},
		{Location{Kind: Archive, Path: filepath.Join(dir, "junk.tar"), Name: "app:v1"}, false},
	} {
		_, err := iio.Open(ctx, tc.loc, false)
		if err == nil {
			t.Errorf("%s: no error", tc.loc)
			continue
		}
		if got := IsNotFound(err); got != tc.want {
			t.Errorf("%s: IsNotFound(%v) = %v, want %v", tc.loc, err, got, tc.want)
		}
	}
	for _, loc := range []Location{{Kind: Layout, Path: layoutDir, Name: "app:v1"}, {Kind: Archive, Path: archive, Name: "app:v1"}} {
		if _, err := iio.Open(ctx, loc, false); err != nil {
			t.Errorf("%s: %v", loc, err)
		}
	}
}

func TestDescribeAuthError(t *testing.T) {
	host := serveRegistry(t, func(h http.Handler) http.Handler { return withBasicAuth(h, "kiln", "right") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := New(nil, WithKeychain(staticKeychain{"kiln", "wrong"})).Remote(ctx, host+"/team/app:v1")
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is no *AuthError", err, err)
	}
	for _, want := range []string{"registry " + host + " rejected the credentials", "team/app", "docker login"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Without credentials for the registry, the refusal says so instead.
	_, err = New(nil, WithKeychain(authn.NewMultiKeychain())).Remote(ctx, host+"/team/app:v1")
	if !errors.As(err, &ae) || !ae.NoCredentials || !strings.Contains(err.Error(), "wants credentials for repository team/app and kiln has none") {
		t.Errorf("no credentials: %v", err)
	}
	if other := errors.New("x"); DescribeAuthError(other, host, "a") != other {
		t.Error("DescribeAuthError changed a non-auth error")
	}
}

func TestAuthErrorMessage(t *testing.T) {
	err := DescribeAuthError(&transport.Error{
		StatusCode: 401,
		Request:    &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "r:5000", Path: "/v2/a/manifests/x"}},
		Errors:     []transport.Diagnostic{{Code: transport.UnauthorizedErrorCode, Message: "authentication required", Detail: []string{"scope"}}},
	}, "r:5000", "team/a")
	want := "registry r:5000 rejected the credentials for repository team/a (check docker login r:5000, $DOCKER_CONFIG or CNB_REGISTRY_AUTH): 401 Unauthorized: UNAUTHORIZED: authentication required"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}
