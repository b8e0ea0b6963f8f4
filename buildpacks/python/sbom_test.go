package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSitePackages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string // path under site-packages: content
		want  []string
		err   string
	}{{
		name: "metadata versions 2.1 to 2.4",
		files: map[string]string{
			"Flask-3.0.3.dist-info/METADATA":       "Metadata-Version: 2.1\nName: Flask\nVersion: 3.0.3\nLicense: BSD-3-Clause\n\nLong description\nName: not-this\n",
			"pydantic_core-2.1.dist-info/METADATA": "Metadata-Version: 2.4\nName: pydantic_core\nVersion: 2.1\nLicense-Expression: MIT\nLicense: ignored\n",
			"six-1.16.0.dist-info/METADATA":        "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: UNKNOWN\n",
			"long-1.0.dist-info/METADATA":          "Metadata-Version: 2.1\nName: long\nVersion: 1.0\nLicense: " + strings.Repeat("x", 200) + "\n",
			"flask/__init__.py":                    "",
		},
		want: []string{
			"Flask 3.0.3 pkg:pypi/flask@3.0.3 BSD-3-Clause",
			"long 1.0 pkg:pypi/long@1.0 ",
			"pydantic_core 2.1 pkg:pypi/pydantic-core@2.1 MIT",
			"six 1.16.0 pkg:pypi/six@1.16.0 ",
		},
	}, {
		name:  "no version",
		files: map[string]string{"bad-1.dist-info/METADATA": "Metadata-Version: 2.1\nName: bad\n"},
		err:   "no Name or Version",
	}, {
		name:  "no METADATA",
		files: map[string]string{"bad-1.dist-info/RECORD": ""},
		err:   "METADATA",
	}, {
		name: "empty site-packages",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			site := t.TempDir()
			for p, c := range tc.files {
				full := filepath.Join(site, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			comps, err := sitePackages(site)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range comps {
				got = append(got, c.Name+" "+c.Version+" "+c.PURL+" "+strings.Join(c.Licenses, ","))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSitePackagesSymlinkedMetadata(t *testing.T) {
	site := t.TempDir()
	d := filepath.Join(site, "evil-1.dist-info")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(d, "METADATA")); err != nil {
		t.Fatal(err)
	}
	if _, err := sitePackages(site); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("err = %v", err)
	}
}
