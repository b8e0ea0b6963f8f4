package create

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// flakyRegistry is an in-process registry that can refuse chosen requests.
type flakyRegistry struct {
	host string
	// refuse answers a matching request with its status instead.
	refuse atomic.Pointer[func(r *http.Request) int]
}

func newRegistry(t *testing.T) *flakyRegistry {
	reg := &flakyRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := reg.refuse.Load(); f != nil {
			if code := (*f)(r); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(code)
				w.Write([]byte(`{"errors":[{"code":"` + errCode(code) + `","message":"refused by the test"}]}`))
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	reg.host = strings.TrimPrefix(srv.URL, "http://")
	return reg
}

func errCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusNotFound:
		return "BLOB_UNKNOWN"
	}
	return "UNKNOWN"
}

func (r *flakyRegistry) refuseWith(f func(r *http.Request) int) { r.refuse.Store(&f) }

// Analyze tells a first build (no previous image: cold, fine) from a
// previous image it cannot read, which fails the build in the analyze
// band naming the image and the reason.
func TestAnalyzeRegistry(t *testing.T) {
	manifests := func(status int) func(r *http.Request) int {
		return func(r *http.Request) int {
			if strings.Contains(r.URL.Path, "/manifests/") && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				return status
			}
			return 0
		}
	}
	for _, tc := range []struct {
		name string
		// refuse is set after a first, successful build.
		refuse   func(r *http.Request) int
		wantCode int
		wantMsg  []string
	}{
		{name: "previous image read", wantCode: 0},
		{name: "credentials rejected", refuse: manifests(http.StatusUnauthorized), wantCode: failure.AnalyzeError,
			wantMsg: []string{"reading the previous image", "/app:latest", "UNAUTHORIZED"}},
		{name: "access denied", refuse: manifests(http.StatusForbidden), wantCode: failure.AnalyzeError,
			wantMsg: []string{"reading the previous image", "/app:latest", "DENIED"}},
		{name: "broken previous image", refuse: func(r *http.Request) int {
			if strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
				return http.StatusNotFound
			}
			return 0
		}, wantCode: failure.AnalyzeError, wantMsg: []string{"config of the previous image", "/app:latest"}},
		{name: "push refused", refuse: func(r *http.Request) int {
			if strings.Contains(r.URL.Path, "/blobs/uploads") {
				return http.StatusUnauthorized
			}
			return 0
		}, wantCode: failure.AnalyzeError, wantMsg: []string{"cannot push", "/app:latest"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t)
			f := newFixture(t)
			f.o.Name = reg.host + "/app:latest"
			f.o.Output = imageio.Location{Kind: imageio.Registry, Name: f.o.Name}
			f.mustBuild()
			if slices.ContainsFunc(f.log.steps(), func(s string) bool { return strings.HasPrefix(s, "analyze:") }) {
				t.Errorf("a first build found a previous image: %q", f.log.steps())
			}
			if tc.refuse != nil {
				reg.refuseWith(tc.refuse)
			}
			_, err := f.run(bg)
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Contains(f.log.steps(), "analyze: ANALYZED previous image sha256:…") {
					t.Errorf("the second build did not find the first: %q", f.log.steps())
				}
				return
			}
			t.Log(err)
			checkFailure(t, err, tc.wantCode, "analyze", "")
			for _, m := range tc.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			if len(f.sb.configs) != 1 {
				t.Errorf("the failed build ran %d containers", len(f.sb.configs)-1)
			}
			f.checkClean()
		})
	}
}
