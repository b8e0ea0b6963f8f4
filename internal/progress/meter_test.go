package progress

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/internal/testutil"
)

// readLayers reads every layer of img, uncompressed, to the end.
func readLayers(t *testing.T, img v1.Image) {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
}

func fakeTerminal(t *testing.T, is bool) {
	old := IsTerminal
	t.Cleanup(func() { IsTerminal = old })
	IsTerminal = func(io.Writer) bool { return is }
}

func TestMeterTrack(t *testing.T) {
	fakeTerminal(t, true)
	img, err := random.Image(2<<20, 3) // 3 layers of 2 MiB: over MinBytes together
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m := NewMeter(&buf)
	pulled := m.Image(img, "reg.example/builder:1")

	// reads outside a tracked pull draw nothing
	readLayers(t, pulled)
	if buf.Len() != 0 {
		t.Errorf("an untracked read drew %q", buf.String())
	}

	end := Track(pulled, nil)
	if again := Track(pulled, nil); again == nil {
		t.Fatal("Track returned nil")
	} else {
		again() // a second pull at once is not shown, and ending it ends nothing
	}
	readLayers(t, pulled)
	end()
	out := buf.String()
	if !strings.HasPrefix(out, "\r\x1b[KPulling reg.example/builder:1: ") || !strings.Contains(out, "(100%") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("progress %q", out)
	}

	// layers already at the destination are not counted: the rest is
	// below MinBytes, so nothing shows
	buf.Reset()
	ls, _ := img.Layers()
	skip := map[v1.Hash]bool{}
	for _, l := range ls[1:] {
		d, _ := l.Digest()
		skip[d] = true
	}
	end = Track(pulled, func(h v1.Hash) bool { return skip[h] })
	readLayers(t, pulled)
	end()
	if buf.Len() != 0 {
		t.Errorf("a pull of one 2 MiB layer drew %q", buf.String())
	}

	// an image read from elsewhere (not wrapped) is no pull
	end = Track(img, nil)
	readLayers(t, img)
	end()
	if buf.Len() != 0 {
		t.Errorf("an unwrapped image drew %q", buf.String())
	}
}

// TestMeterPiped: off a terminal nothing is wrapped, so nothing can draw
// and the images are the very values given.
func TestMeterPiped(t *testing.T) {
	fakeTerminal(t, false)
	var buf bytes.Buffer
	m := NewMeter(&buf)
	if m != nil {
		t.Fatal("a meter on a pipe")
	}
	img, err := random.Image(6<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Image(img, "x") != img {
		t.Error("a nil meter wrapped the image")
	}
	defer Track(img, nil)()
	readLayers(t, img)
	if buf.Len() != 0 {
		t.Errorf("piped: %q", buf.String())
	}
}

// TestMeterKeepsRegistryLayers: a wrapped registry image's layers stay
// mountable (a push elsewhere mounts rather than downloads them) and keep
// their digests, diffIDs and bytes.
func TestMeterKeepsRegistryLayers(t *testing.T) {
	fakeTerminal(t, true)
	reg := testutil.NewRegistry(t)
	img, err := random.Image(5<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Host + "/run:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(ref, remote.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	pulled := NewMeter(&buf).Image(got, ref.String())
	ls, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ml, ok := ls[0].(*remote.MountableLayer)
	if !ok || ml.Reference.String() != ref.String() {
		t.Fatalf("layer is a %T, want a *remote.MountableLayer of %s", ls[0], ref)
	}
	orig, _ := img.Layers()
	for _, f := range []func(v1.Layer) (v1.Hash, error){v1.Layer.Digest, v1.Layer.DiffID} {
		a, errA := f(orig[0])
		b, errB := f(ls[0])
		if errA != nil || errB != nil || a != b {
			t.Errorf("hash %v (%v), wrapped %v (%v)", a, errA, b, errB)
		}
	}
	byDiff, err := pulled.LayerByDiffID(mustDiffID(t, orig[0]))
	if err != nil {
		t.Fatal(err)
	}
	end := Track(pulled, nil)
	rc, err := byDiff.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	end()
	want, _ := orig[0].Uncompressed()
	wb, _ := io.ReadAll(want)
	if !bytes.Equal(b, wb) {
		t.Error("the wrapped layer's bytes differ")
	}
	if out := buf.String(); !strings.Contains(out, "Pulling "+ref.String()+": ") || !strings.Contains(out, "(100%") {
		t.Errorf("progress %q", out)
	}
}

func mustDiffID(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
