//go:build acceptance

package acceptance

import (
	"archive/tar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// realApp is one fixture of testdata/realapps: a pattern of a public app
// that built green and never served, or did not build at all.
type realApp struct {
	dir string
	// want is what GET / answers, in part.
	want string
	// log lines the build must print.
	log []string
	// check looks at the image.
	check func(t *testing.T, img v1.Image)
}

// TestRealApps builds every fixture with the default builder, runs the
// image and checks its answer over HTTP, and what the image holds. The
// builds are independent: they run two at a time.
func TestRealApps(t *testing.T) {
	shippedStack(t)
	useKilnBuildpacks(t)
	os.Unsetenv("KILN_BUILDER")
	apps := []realApp{
		// a start script that runs a dependency's bin (#!/usr/bin/env node)
		// on Node.js 26, what >=18 resolves to; npm is the one Node.js ships
		{dir: "node-bin", want: "realapps-bin node=v2", log: []string{"Using Node.js 26.", "Using npm 11."}},
		// a TypeScript server started by tsx, a devDependency
		{dir: "node-tsx", want: "realapps-tsx: TypeScript via tsx", log: []string{"Keeping devDependencies in the image: the start script runs tsx"}},
		// lockfiles pin ms 2.0.0; the newest 2.x is 2.1.3
		{dir: "node-yarn", want: "realapps yarn: ms 2.0.0", log: []string{"Installing dependencies with yarn: yarn.lock", "Using yarn 1."}},
		{dir: "node-berry", want: "realapps berry: ms 2.0.0", log: []string{"Installing dependencies with yarn (Berry): packageManager yarn@4.5.0", "Using @yarnpkg/cli-dist 4.5.0"}},
		{dir: "node-pnpm", want: "realapps pnpm: ms 2.0.0", log: []string{"packageManager pnpm@9.9.0", "Using pnpm 9.9.0"}},
		// a single-page app built by Node.js (writing to HOME) and served
		// as files, with no Node.js in the image
		{dir: "static-spa", want: "realapps-spa: built by Node.js, served as files", log: []string{"Node.js stays out of the image"}, check: noNodeInImage},
		// two mains under cmd/: the one named like the module serves
		{dir: "go-two-mains", want: "realapps-go: greeter from cmd/greeter", check: goImage},
		{dir: "python-server", want: "realapps-python: served by server.py", log: []string{"Process web (default): python3 server.py"}},
	}
	for _, app := range apps {
		t.Run(app.dir, func(t *testing.T) {
			t.Parallel()
			src := copyTree(t, filepath.Join("testdata", "realapps", app.dir), filepath.Join(t.TempDir(), app.dir))
			image := "realapps/" + app.dir
			out := mustKiln(t, "build", image, "--path", src)
			wantContains(t, out, app.log...)
			got := runAndGet(t, image, freePort(t))
			if !strings.Contains(got, app.want) {
				t.Fatalf("GET / = %q, want it to contain %q", got, app.want)
			}
			if app.dir == "node-bin" && !strings.Contains(got, "node=v26.") && !strings.Contains(got, "node=v27.") {
				t.Errorf("GET / = %q, want Node.js 26 or later", got)
			}
			if app.check != nil {
				app.check(t, storeImage(t, image))
			}
		})
	}
	// a process whose #! interpreter the run image lacks fails the build
	t.Run("launch-broken", func(t *testing.T) {
		t.Parallel()
		src := copyTree(t, filepath.Join("testdata", "realapps", "launch-broken"), filepath.Join(t.TempDir(), "launch-broken"))
		r := kiln(t, "build", "realapps/launch-broken", "--path", src)
		if r.code == 0 {
			t.Fatalf("a build whose web process cannot start succeeded:\n%s", r.out)
		}
		wantContains(t, r.out, "the image would not start", "process web", "/workspace/serve.sh starts with `#!/bin/sh`, and the image has no /bin/sh", "fix:")
		wantNotContains(t, r.out, "IMAGE realapps/launch-broken")
	})
}

// appPaths lists the paths under /layers and /workspace in img.
func appPaths(t *testing.T, img v1.Image) map[string]bool {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, l := range layers {
		walkLayer(t, l, func(name string, h *tar.Header, _ *tar.Reader) {
			name = strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/")
			if strings.HasPrefix(name, "layers/") || strings.HasPrefix(name, "workspace/") {
				paths[name] = true
			}
		})
	}
	return paths
}

func noNodeInImage(t *testing.T, img v1.Image) {
	for p := range appPaths(t, img) {
		if strings.HasPrefix(p, "layers/kiln_nodejs/") || strings.HasSuffix(p, "/bin/node") || strings.Contains(p, "node_modules") {
			t.Errorf("the static site's image holds %s", p)
		}
	}
}

func goImage(t *testing.T, img v1.Image) {
	paths := appPaths(t, img)
	for p := range paths {
		if strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "go.mod") {
			t.Errorf("the Go image holds the source %s", p)
		}
	}
	for _, bin := range []string{"layers/kiln_go/app/bin/greeter", "layers/kiln_go/app/bin/admin"} {
		if !paths[bin] {
			t.Errorf("the Go image lacks %s", bin)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	md := cfg.Config.Labels["io.buildpacks.build.metadata"]
	for _, want := range []string{`"type":"web"`, `"type":"admin"`} {
		if !strings.Contains(md, want) {
			t.Errorf("build metadata lacks process %s: %s", want, md)
		}
	}
}
