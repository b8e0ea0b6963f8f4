package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// A builder image's /cnb TOML files are read as the image holds them:
// run.toml, else stack.toml; a link (to a host file that would parse)
// and an oversized file are errors naming the file.
func TestReadBuilderTOMLs(t *testing.T) {
	host := t.TempDir()
	hostRun := filepath.Join(host, "run.toml")
	hostOrder := filepath.Join(host, "order.toml")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(hostRun, "[[images]]\nimage = \"host/secret-run\"\n")
	write(hostOrder, "[[order]]\n[[order.group]]\nid = \"host/bp\"\nversion = \"1\"\n")

	root := func(files map[string]string, links map[string]string) string {
		r := t.TempDir()
		for rel, s := range files {
			write(filepath.Join(r, rel), s)
		}
		for rel, target := range links {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(r, rel)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(r, rel)); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}

	t.Run("run.toml", func(t *testing.T) {
		got, err := ReadRunImages(root(map[string]string{"cnb/run.toml": "[[images]]\nimage = \"r.test/run\"\nmirrors = [\"m.test/run\"]\n"}, nil))
		want := RunImages{Images: []RunImage{{Image: "r.test/run", Mirrors: []string{"m.test/run"}}}}
		if err != nil || !cmp.Equal(got, want) {
			t.Errorf("ReadRunImages = %+v, %v", got, err)
		}
	})
	t.Run("legacy stack.toml", func(t *testing.T) {
		got, err := ReadRunImages(root(map[string]string{"cnb/stack.toml": "[run-image]\nimage = \"r.test/old\"\n"}, nil))
		if err != nil || len(got.Images) != 1 || got.Images[0].Image != "r.test/old" {
			t.Errorf("ReadRunImages = %+v, %v", got, err)
		}
	})
	t.Run("neither", func(t *testing.T) {
		if got, err := ReadRunImages(root(nil, nil)); err != nil || len(got.Images) != 0 {
			t.Errorf("ReadRunImages = %+v, %v", got, err)
		}
	})
	for _, tc := range []struct {
		name string
		r    string
		read func(string) error
		want string
	}{
		{"run.toml a link to a host file", root(nil, map[string]string{"cnb/run.toml": hostRun}),
			func(r string) error { _, err := ReadRunImages(r); return err }, "/cnb/run.toml"},
		{"stack.toml a link", root(nil, map[string]string{"cnb/stack.toml": hostRun}),
			func(r string) error { _, err := ReadRunImages(r); return err }, "/cnb/stack.toml"},
		{"cnb a link to a host dir", root(nil, map[string]string{"cnb": host}),
			func(r string) error { _, err := ReadRunImages(r); return err }, "/cnb"},
		{"order.toml a link to a host file", root(nil, map[string]string{"cnb/order.toml": hostOrder}),
			func(r string) error { _, err := readOrders(r); return err }, "/cnb/order.toml"},
		{"run.toml too large", root(map[string]string{"cnb/run.toml": "# " + strings.Repeat("x", descriptor.MaxTOMLSize) + "\n"}, nil),
			func(r string) error { _, err := ReadRunImages(r); return err }, "/cnb/run.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read(tc.r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("err %v shows the host file", err)
			}
		})
	}
}
