package fleet

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hostile serves a registry whose catalog and tag lists misbehave.
func hostile(t *testing.T, catalog, tags http.HandlerFunc) Prefix {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/v2/_catalog":
			catalog(w, r)
		case strings.HasSuffix(r.URL.Path, "/tags/list"):
			tags(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	p, err := ParsePrefix(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestListHostileRegistry(t *testing.T) {
	oneRepo := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"repositories":["a"]}`) }
	oneTag := func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"name":"a","tags":["v1"]}`) }
	for _, tc := range []struct {
		name          string
		catalog, tags http.HandlerFunc
		want          string
	}{{
		name: "catalog repeats its page forever",
		catalog: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `</v2/_catalog?last=a&n=1000>; rel="next"`)
			oneRepo(w, r)
		},
		tags: oneTag,
		want: "repeats a page",
	}, {
		name:    "tags repeat their page forever",
		catalog: oneRepo,
		tags: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `</v2/a/tags/list?last=v1&n=1000>; rel="next"`)
			oneTag(w, r)
		},
		want: "repeats a page",
	}, {
		name: "next page on another host",
		catalog: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `<http://169.254.169.254/v2/_catalog?last=a>; rel="next"`)
			oneRepo(w, r)
		},
		tags: oneTag,
		want: "host",
	}, {
		name:    "invalid tag",
		catalog: oneRepo,
		tags:    func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"name":"a","tags":["../x"]}`) },
		want:    `invalid tag "../x"`,
	}, {
		name:    "not JSON",
		catalog: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `<html>`) },
		tags:    oneTag,
		want:    "listing the repositories",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := List(context.Background(), hostile(t, tc.catalog, tc.tags), Limits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("List: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct {
		in, reg, path, err string
	}{
		{in: "reg.example.com/team/apps/", reg: "reg.example.com", path: "team/apps"},
		{in: "127.0.0.1:5000", reg: "127.0.0.1:5000"},
		{in: "localhost/x", reg: "localhost", path: "x"},
		{in: "team/apps", err: "want REGISTRY"},
		{in: "reg.example.com/app:latest", err: "not a tag or digest"},
		{in: "reg.example.com/Bad", err: "prefix"},
	} {
		p, err := ParsePrefix(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParsePrefix(%q): %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || p.Registry.RegistryStr() != tc.reg || p.Path != tc.path {
			t.Errorf("ParsePrefix(%q) = %q %q %v", tc.in, p.Registry.RegistryStr(), p.Path, err)
		}
	}
	p, _ := ParsePrefix("r.io/team")
	for repo, want := range map[string]bool{"team": true, "team/a": true, "teamx/a": false, "other": false} {
		if p.Has(repo) != want {
			t.Errorf("Has(%q) = %v", repo, !want)
		}
	}
}

func TestReadList(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{name: "comments and blanks", in: "# apps\n\nr.io/a\n  r.io/b:v2  # the second\nr.io/a:latest\n", want: []string{"r.io/a:latest", "r.io/b:v2"}},
		{name: "digest", in: "r.io/a@sha256:" + strings.Repeat("0", 64), want: []string{"r.io/a@sha256:" + strings.Repeat("0", 64)}},
		{name: "no registry", in: "r.io/a\nlibrary/b\n", err: `line 2: "library/b" names no registry`},
		{name: "bad reference", in: "r.io/A B\n", err: "line 1"},
		{name: "line too long", in: "r.io/" + strings.Repeat("a", 5000), err: "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadList(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func FuzzReadList(f *testing.F) {
	f.Add("r.io/a\n# x\n\nr.io/b:v1 # c\n")
	f.Fuzz(func(t *testing.T, s string) {
		refs, err := ReadList(strings.NewReader(s))
		if err == nil && len(refs) > MaxListFileLines {
			t.Errorf("%d references", len(refs))
		}
	})
}
