package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
	"github.com/kiln-build/kiln/buildpacks/sdk"
)

func TestChoosePackageManager(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		pm     string
		want   packageManager
		nwarns int
	}{
		{"none", nil, "", packageManager{Name: "npm", Source: "no yarn.lock or pnpm-lock.yaml"}, 0},
		{"npm", map[string]string{"package-lock.json": "{}"}, "", packageManager{Name: "npm", Lock: "package-lock.json", Source: "package-lock.json"}, 0},
		{"yarn classic", map[string]string{"yarn.lock": "# yarn lockfile v1\n"}, "", packageManager{Name: "yarn", Version: "1", Lock: "yarn.lock", Source: "yarn.lock"}, 0},
		{"yarn berry", map[string]string{"yarn.lock": "# x\n\n__metadata:\n  version: 8\n"}, "", packageManager{Name: "yarn", Berry: true, Version: "4", Lock: "yarn.lock", Source: "yarn.lock"}, 0},
		{"pnpm 8 lock", map[string]string{"pnpm-lock.yaml": "lockfileVersion: '6.0'\n"}, "", packageManager{Name: "pnpm", Version: "8", Lock: "pnpm-lock.yaml", Source: "pnpm-lock.yaml"}, 0},
		{"packageManager wins", map[string]string{"pnpm-lock.yaml": "lockfileVersion: '9.0'\n", "package-lock.json": "{}"}, "pnpm@9.9.0+sha512.abc",
			packageManager{Name: "pnpm", Version: "9.9.0", Lock: "pnpm-lock.yaml", Source: "packageManager pnpm@9.9.0+sha512.abc in package.json"}, 0},
		{"packageManager without its lock", map[string]string{"package-lock.json": "{}"}, "yarn@4.5.0",
			packageManager{Name: "yarn", Berry: true, Version: "4.5.0", Source: "packageManager yarn@4.5.0 in package.json"}, 1},
		{"two locks", map[string]string{"yarn.lock": "", "package-lock.json": "{}"}, "", packageManager{Name: "yarn", Version: "1", Lock: "yarn.lock", Source: "yarn.lock"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, c := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, warns, err := choosePackageManager(dir, &nodepkg.Package{PackageManager: tc.pm})
			if err != nil {
				t.Fatal(err)
			}
			if got.Lock != "" {
				got.Lock = filepath.Base(got.Lock)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || len(warns) != tc.nwarns {
				t.Errorf("(-want +got):\n%s\nwarnings %q", diff, warns)
			}
		})
	}
	if _, _, err := choosePackageManager(t.TempDir(), &nodepkg.Package{PackageManager: "bun@1"}); err == nil {
		t.Error("bun accepted")
	}
}

func TestInstallArgs(t *testing.T) {
	locked := func(pm packageManager) packageManager { pm.Lock = "x"; return pm }
	for _, tc := range []struct {
		pm   packageManager
		prod bool
		want []string
	}{
		{locked(packageManager{Name: "npm"}), true, []string{"ci", "--omit=dev"}},
		{packageManager{Name: "npm"}, false, []string{"install", "--no-package-lock"}},
		{locked(packageManager{Name: "yarn"}), true, []string{"install", "--non-interactive", "--frozen-lockfile", "--production"}},
		{locked(packageManager{Name: "yarn", Berry: true}), false, []string{"install", "--immutable"}},
		{locked(packageManager{Name: "pnpm"}), true, []string{"install", "--frozen-lockfile", "--prod"}},
	} {
		if diff := cmp.Diff(tc.want, tc.pm.installArgs(tc.prod)); diff != "" {
			t.Errorf("%+v prod=%v (-want +got):\n%s", tc.pm, tc.prod, diff)
		}
	}
}

func TestBundledNpm(t *testing.T) {
	for node, want := range map[string]string{"22.11.0": "10", "24.1.0": "11", "26.0.0": "11", "40.0.0": "11", "12.0.0": "*"} {
		if got := bundledNpmRange(node); got != want {
			t.Errorf("bundledNpmRange(%s) = %s, want %s", node, got, want)
		}
	}
}

func TestStartScript(t *testing.T) {
	pkg := &nodepkg.Package{Scripts: map[string]string{"start": "npm run serve", "serve": "next start", "dev": "yarn start"}}
	for in, want := range map[string]string{
		"npm start":         "npm run serve",
		"npm run serve":     "next start",
		"yarn start":        "npm run serve",
		"pnpm serve":        "next start",
		"npm run nope":      "npm run nope",
		"node server.js":    "node server.js",
		"npm run serve --x": "npm run serve --x",
	} {
		got := startScript(pkg, in)
		// following continues to the end of the chain
		if in == "npm start" || in == "yarn start" {
			want = "next start"
		}
		if got != want {
			t.Errorf("startScript(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDevBinNeeded(t *testing.T) {
	dev := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dev, "node_modules", ".bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "node_modules", ".bin", "nest"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	for script, want := range map[string]bool{"nest start": true, "node dist/main.js": false, "next start": false} {
		b := &builder{bc: &sdk.BuildContext{AppDir: t.TempDir()}, pkg: &nodepkg.Package{
			Scripts: map[string]string{"start": script}, DevDependencies: map[string]string{"@nestjs/cli": "^10"},
		}}
		if got, _ := b.devBinNeeded(&sdk.Layer{Path: dev}); got != want {
			t.Errorf("devBinNeeded(%q) = %v, want %v", script, got, want)
		}
	}
}
