package main

import (
	"context"
	"flag"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/internal/testutil"
	"github.com/kiln-build/kiln/lifecycle/create"
	"github.com/kiln-build/kiln/lifecycle/imageio"
)

func TestPlatformTag(t *testing.T) {
	arm := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	for _, tc := range []struct{ in, want string }{
		{"reg.example/app/cache:latest", "reg.example/app/cache:latest-arm64v8"},
		{"reg.example/app/cache", "reg.example/app/cache:latest-arm64v8"},
	} {
		if got := platformTag(tc.in, arm); got != tc.want {
			t.Errorf("platformTag(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// buildContext is kiln build's flags parsed from args, as the CLI would.
func buildContext(t *testing.T, args ...string) *cli.Context {
	t.Helper()
	cmd := buildCommand()
	set := flag.NewFlagSet("build", flag.ContinueOnError)
	for _, f := range cmd.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	c := cli.NewContext(newApp(), set, nil)
	c.Command = cmd
	c.Context = context.Background()
	return c
}

// Signing and tags work on an index; files made of one image need one
// platform.
func TestBuildPlatformsFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--platform", "linux/amd64,linux/arm64", "--sign-key", "k.key", "--publish", "-t", "reg.example/app:v1"}, ""},
		{[]string{"--platform", "linux/amd64", "--sbom-output-dir", "d"}, ""},
		{[]string{"--platform", "linux/amd64,linux/arm64", "--sbom-output-dir", "d"}, "--sbom-output-dir works on one image"},
		{[]string{"--platform", "linux/amd64,linux/arm64", "--report", "r.json"}, "--report works on one image"},
	} {
		plats, err := buildPlatforms(buildContext(t, tc.args...))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.wantErr == "" && len(plats) == 0:
			t.Errorf("%q: no platforms", tc.args)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestWriteTagsIndex: --tag writes a multi-platform build's index whole
// under every tag, in its registry.
func TestWriteTagsIndex(t *testing.T) {
	reg := testutil.NewRegistry(t)
	iio := imageio.New(nil)
	ctx := context.Background()
	idx, err := imageio.NewIndex([]imageio.PlatformImage{
		{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}, Image: testutil.RandomImage(t, 64, 1)},
		{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}, Image: testutil.RandomImage(t, 64, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := imageio.Location{Kind: imageio.Registry, Name: reg.Host + "/team/app:latest"}
	if err := iio.WriteIndex(ctx, out, idx); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	tags := []string{reg.Host + "/team/app:v1", reg.Host + "/team/other:v2"}
	got, err := writeTags(buildContext(t, "-t", tags[0], "-t", tags[1]), iio, &create.Result{Digest: want, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tags, got); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	for _, tag := range tags {
		desc, err := remote.Get(mustParse(t, tag))
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest != want || !desc.MediaType.IsIndex() {
			t.Errorf("%s: %s %s, want the index %s", tag, desc.MediaType, desc.Digest, want)
		}
	}
}

func mustParse(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
