package cache

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// The dir cache moves layer trees by rename: no bytes are copied on
// save or restore, and a failed build gives them back.
func TestDirCacheMovesTrees(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	layers := build(t)
	obj := filepath.Join(layers, "acme_go", "gocache", "obj", "a.o")
	before, err := os.Stat(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx, SaveOptions{LayersDir: layers, Group: group}); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	noWarn := func(f string, a ...any) { t.Errorf("warning: "+f, a...) }
	if _, err := c.Restore(ctx, RestoreOptions{LayersDir: fresh, Group: group, Warn: noWarn}); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(filepath.Join(fresh, "acme_go", "gocache", "obj", "a.o"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the restored file is a copy, not the saved one")
	}
	// A failed build gives the untouched tree back.
	c.GiveBack()
	again := t.TempDir()
	res, err := c.Restore(ctx, RestoreOptions{LayersDir: again, Group: group, Warn: noWarn})
	if err != nil || len(res.Contents) != 1 {
		t.Fatalf("after GiveBack: %+v, %v", res, err)
	}
	// Without GiveBack, the tree is gone: a quiet miss.
	res, err = c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: noWarn})
	if err != nil || len(res.Contents) != 0 {
		t.Errorf("tree taken by another build: %+v, %v", res, err)
	}
}

// A cache image that is missing is an empty cache without a word; one the
// registry will not hand over (credentials rejected, server failing) is an
// empty cache with a warning that says why.
func TestImageCacheLoadErrors(t *testing.T) {
	ctx := context.Background()
	reg := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/locked/"):
			if _, p, ok := r.BasicAuth(); !ok || p != "right" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		case strings.Contains(r.URL.Path, "/broken/"):
			http.Error(w, "broken", http.StatusNotImplemented)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	iio := imageio.New(nil, imageio.WithKeychain(authn.NewMultiKeychain()))
	for _, tc := range []struct {
		repo, wantWarn string
	}{
		{repo: "app/cache"},
		{repo: "locked/cache", wantWarn: "wants credentials for repository locked/cache and kiln has none"},
		{repo: "broken/cache", wantWarn: "501"},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			c, err := Open(ctx, t.TempDir(), WithImage(iio, host+"/"+tc.repo+":latest"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var warnings []string
			warn := func(f string, a ...any) { warnings = append(warnings, fmt.Sprintf(f, a...)) }
			res, err := c.Restore(ctx, RestoreOptions{LayersDir: t.TempDir(), Group: group, Warn: warn})
			if err != nil || len(res.Contents) != 0 {
				t.Fatalf("Restore = %+v, %v", res, err)
			}
			if tc.wantWarn == "" {
				if len(warnings) != 0 {
					t.Errorf("warnings for a missing cache image: %q", warnings)
				}
				return
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], tc.wantWarn) || !strings.Contains(warnings[0], host) {
				t.Errorf("warnings %q, want one naming %s and %q", warnings, host, tc.wantWarn)
			}
		})
	}
}
