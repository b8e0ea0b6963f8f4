package sbom

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFilesAndWriteFiles(t *testing.T) {
	f := newFixture(t, nil)
	files, err := Files(context.Background(), f.img)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fl := range files {
		got = append(got, fl.Path)
	}
	sort.Strings(got)
	want := []string{"launch/kiln_go/app/sbom.cdx.json", "launch/kiln_go/app/sbom.spdx.json", "launch/kiln_go/app/sbom.syft.json", "launch/kiln_nodejs/modules/sbom.spdx.json"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Files (-want +got):\n%s", diff)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	for _, fl := range files {
		b, err := os.ReadFile(filepath.Join(dir, fl.Path))
		if err != nil || string(b) != string(fl.Data) {
			t.Errorf("%s: %v", fl.Path, err)
		}
	}
	// a link planted in the output dir is not followed
	outside := t.TempDir()
	dir2 := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir2, "launch")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFiles(dir2, files); err == nil {
		t.Error("WriteFiles wrote through a symlink")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("files landed outside the output dir: %v", ents)
	}
	// hostile layers fail as they do for Read
	h := newFixture(t, []entry{{name: "layers/sbom/launch/kiln_go/app/sbom.cdx.json", typ: tar.TypeSymlink, link: "/etc/passwd"}})
	if _, err := Files(context.Background(), h.img); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Files of a hostile layer: %v", err)
	}
}
