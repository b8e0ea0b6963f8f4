package imageio

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func platformImage(t *testing.T, arch, variant string) v1.Image {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = "linux", arch, variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestParsePlatforms(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "linux/amd64,linux/arm64", want: []string{"linux/amd64", "linux/arm64"}},
		{in: " linux/arm/v7 ", want: []string{"linux/arm/v7"}},
		{in: "linux/amd64,linux/amd64", wantErr: true},
		{in: "windows/amd64", wantErr: true},
		{in: "amd64", wantErr: true},
		{in: ",", wantErr: true},
	} {
		got, err := ParsePlatforms(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParsePlatforms(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		var strs []string
		for _, p := range got {
			strs = append(strs, PlatformString(p))
		}
		if diff := cmp.Diff(tc.want, strs); diff != "" {
			t.Errorf("ParsePlatforms(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestIndexInStoreAndLayout(t *testing.T) {
	ctx := context.Background()
	amd, arm := platformImage(t, "amd64", ""), platformImage(t, "arm64", "v8")
	idx, err := NewIndex([]PlatformImage{
		{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Image: amd},
		{Platform: v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, Image: arm},
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := OpenStore(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	o := New(store)
	for _, loc := range []Location{
		{Kind: Store, Name: "app:latest"},
		{Kind: Layout, Path: filepath.Join(t.TempDir(), "oci"), Name: "app:latest"},
	} {
		if err := o.WriteIndex(ctx, loc, idx); err != nil {
			t.Fatalf("WriteIndex %s: %v", loc, err)
		}
		gotIdx, _, err := o.OpenIndex(ctx, loc, false)
		if err != nil || gotIdx == nil {
			t.Fatalf("OpenIndex %s = %v, %v", loc, gotIdx, err)
		}
		want, _ := idx.Digest()
		if got, _ := gotIdx.Digest(); got != want {
			t.Errorf("%s: index digest %s, want %s", loc, got, want)
		}
		for _, tc := range []struct {
			p    v1.Platform
			want v1.Image
		}{
			{v1.Platform{OS: "linux", Architecture: "arm64"}, arm},
			{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, arm},
			{v1.Platform{OS: "linux", Architecture: "amd64"}, amd},
		} {
			img, err := o.OpenPlatform(ctx, loc, false, tc.p)
			if err != nil {
				t.Fatalf("%s: OpenPlatform %s: %v", loc, PlatformString(tc.p), err)
			}
			got, _ := img.Digest()
			want, _ := tc.want.Digest()
			if got != want {
				t.Errorf("%s: OpenPlatform %s = %s, want %s", loc, PlatformString(tc.p), got, want)
			}
		}
		_, err = o.OpenPlatform(ctx, loc, false, v1.Platform{OS: "linux", Architecture: "s390x"})
		var npe *NoPlatformError
		if !errors.As(err, &npe) || !cmp.Equal(npe.Have, []string{"linux/amd64", "linux/arm64/v8"}) {
			t.Errorf("%s: OpenPlatform s390x error = %v, want a NoPlatformError listing both", loc, err)
		}
	}
	// The store lists the index as one entry, and Open takes the host's image.
	entries, err := store.List()
	if err != nil || len(entries) != 1 || entries[0].Name != "app:latest" {
		t.Fatalf("List = %+v, %v", entries, err)
	}
	if _, err := o.Open(ctx, Location{Kind: Store, Name: "app"}, false); err != nil {
		t.Errorf("Open of an index in the store: %v", err)
	}
	if err := o.WriteIndex(ctx, Location{Kind: Archive, Path: filepath.Join(t.TempDir(), "a.tar")}, idx); err == nil {
		t.Error("WriteIndex to a docker-archive: no error")
	}
}
