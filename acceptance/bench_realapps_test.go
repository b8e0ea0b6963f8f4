//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/labels"
)

// BenchmarkRealAppsImageSize reports how much an app image adds to its
// run image (compressed layers) for a single-page app built with Node.js
// and served as files (no Node.js, no node_modules in the image) and for
// a Go module with two main packages (binaries only, no sources).
func BenchmarkRealAppsImageSize(b *testing.B) {
	shippedStack(b)
	os.Unsetenv("KILN_BUILDER")
	table := &benchTable{}
	for _, app := range []struct{ dir, what string }{
		{"static-spa", "image above the run image, SPA built with Node.js"},
		{"go-two-mains", "image above the run image, Go module with two mains"},
	} {
		src := copyTree(b, filepath.Join("testdata", "realapps", app.dir), filepath.Join(b.TempDir(), app.dir))
		image := "bench-realapps/" + app.dir
		mustKiln(b, "build", image, "--path", src)
		above := sizeAboveRun(b, openStore(b, image))
		table.add("real apps", app.what, fmt.Sprintf("%.2f MiB", float64(above)/(1<<20)), "-", "-")
	}
	fmt.Println()
	table.print(os.Stdout)
}

// sizeAboveRun is the compressed size of img's layers above its run
// image's top layer (from the lifecycle label).
func sizeAboveRun(b testing.TB, img v1.Image) int64 {
	b.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		b.Fatal(err)
	}
	var md labels.Lifecycle
	if ok, err := labels.Decode(cfg, labels.LifecycleMetadata, &md); !ok || err != nil {
		b.Fatalf("lifecycle label: %v %v", ok, err)
	}
	layers, err := img.Layers()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	above := false
	for _, l := range layers {
		if above {
			s, err := l.Size()
			if err != nil {
				b.Fatal(err)
			}
			n += s
			d, _ := l.Digest()
			b.Logf("layer %s above the run image: %d bytes", d, s)
		}
		if d, err := l.DiffID(); err == nil && d.String() == md.RunImage.TopLayer {
			above = true
		}
	}
	if !above {
		b.Fatalf("the run image's top layer %s is not in the image", md.RunImage.TopLayer)
	}
	return n
}

// openStore opens name from the test's local store.
func openStore(b testing.TB, name string) v1.Image {
	b.Helper()
	store, err := imageio.OpenStore(os.Getenv("KILN_STORE"))
	if err != nil {
		b.Fatal(err)
	}
	img, err := store.Image(name)
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return img
}
