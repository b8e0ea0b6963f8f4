package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/fsutil"
	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
)

// packageManager is the tool that installs the app's dependencies, chosen
// as corepack does: the "packageManager" field of package.json, else the
// lockfile the app has.
type packageManager struct {
	// Name is npm, yarn or pnpm.
	Name string
	// Berry is Yarn 2 and later.
	Berry bool
	// Version is the range asked for ("9.9.0", "1", ...); "" for npm
	// (chosen by installNpm).
	Version string
	// Lock is the lockfile's path, "" when the app has none.
	Lock string
	// Source says why, for the build log.
	Source string
}

// lockfiles are each package manager's lockfiles, preferred first.
var lockfiles = map[string][]string{
	"npm":  {"npm-shrinkwrap.json", "package-lock.json"},
	"yarn": {"yarn.lock"},
	"pnpm": {"pnpm-lock.yaml"},
}

// findLock returns the first of name's lockfiles in app, or "".
func findLock(app, name string) string {
	for _, n := range lockfiles[name] {
		if p := filepath.Join(app, n); fsutil.IsFile(p) {
			return p
		}
	}
	return ""
}

// choosePackageManager works out the package manager of the app in app;
// warnings are for the build log.
func choosePackageManager(app string, pkg *nodepkg.Package) (packageManager, []string, error) {
	var warns []string
	found := map[string]string{}
	var order []string
	for _, name := range []string{"pnpm", "yarn", "npm"} {
		if l := findLock(app, name); l != "" {
			found[name] = l
			order = append(order, filepath.Base(l))
		}
	}
	if f := strings.TrimSpace(pkg.PackageManager); f != "" {
		name, version, _ := strings.Cut(f, "@")
		version, _, _ = strings.Cut(version, "+") // corepack's hash suffix
		if _, ok := lockfiles[name]; !ok {
			return packageManager{}, nil, fmt.Errorf("packageManager %q in package.json: kiln supports npm, yarn and pnpm", f)
		}
		pm := packageManager{Name: name, Version: version, Lock: found[name], Source: "packageManager " + f + " in package.json"}
		if pm.Lock == "" && len(order) > 0 {
			warns = append(warns, fmt.Sprintf("package.json says packageManager %s, yet the app has %s and no %s lockfile: using %s", f, strings.Join(order, ", "), name, name))
		}
		if name == "yarn" {
			pm.Berry = !strings.HasPrefix(version, "1.") && version != "1"
		}
		if name == "npm" {
			pm.Version = "" // installNpm reads packageManager too
		}
		return pm, warns, nil
	}
	if len(order) > 1 {
		warns = append(warns, fmt.Sprintf("the app has several lockfiles (%s): using %s; delete the others", strings.Join(order, ", "), order[0]))
	}
	for _, name := range []string{"pnpm", "yarn"} {
		if l, ok := found[name]; ok {
			pm := packageManager{Name: name, Lock: l, Source: filepath.Base(l)}
			if name == "yarn" {
				pm.Berry = berryLock(l) || fsutil.IsFile(filepath.Join(app, ".yarnrc.yml"))
				pm.Version = "1"
				if pm.Berry {
					pm.Version = "4"
				}
			} else {
				pm.Version = pnpmForLock(l)
			}
			if r := strings.TrimSpace(pkg.Engines[name]); r != "" {
				pm.Version, pm.Source = r, "engines."+name+" in package.json"
			}
			return pm, warns, nil
		}
	}
	src := "no yarn.lock or pnpm-lock.yaml"
	if l := found["npm"]; l != "" {
		src = filepath.Base(l)
	}
	return packageManager{Name: "npm", Lock: found["npm"], Source: src}, warns, nil
}

// berryLock reports whether a yarn.lock is Yarn 2+'s (YAML with
// __metadata) rather than Yarn 1's.
func berryLock(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 20 && sc.Scan(); i++ {
		if strings.HasPrefix(sc.Text(), "__metadata:") {
			return true
		}
	}
	return false
}

// pnpmForLock is the pnpm line that writes a pnpm-lock.yaml's
// lockfileVersion.
func pnpmForLock(p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return "9"
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	v := strings.Trim(strings.TrimSpace(strings.TrimPrefix(string(line), "lockfileVersion:")), `'"`)
	switch {
	case strings.HasPrefix(v, "5."):
		return "7"
	case strings.HasPrefix(v, "6."):
		return "8"
	}
	return "9"
}

// npmPackage is the npm package a package manager is published as.
func (pm packageManager) npmPackage() string {
	switch {
	case pm.Name == "yarn" && pm.Berry:
		return "@yarnpkg/cli-dist"
	}
	return pm.Name
}

// installArgs are the arguments that install the dependencies, only the
// production ones with prod, honouring the lockfile exactly when there
// is one.
func (pm packageManager) installArgs(prod bool) []string {
	locked := pm.Lock != ""
	var args []string
	switch {
	case pm.Name == "npm":
		args = []string{"install", "--no-package-lock"}
		if locked {
			args = []string{"ci"}
		}
		if prod {
			args = append(args, "--omit=dev")
		}
	case pm.Name == "yarn" && pm.Berry:
		if prod {
			return []string{"workspaces", "focus", "--all", "--production"}
		}
		args = []string{"install"}
		if locked {
			args = append(args, "--immutable")
		}
	case pm.Name == "yarn":
		args = []string{"install", "--non-interactive"}
		if locked {
			args = append(args, "--frozen-lockfile")
		}
		if prod {
			args = append(args, "--production")
		}
	default: // pnpm
		args = []string{"install", "--frozen-lockfile"}
		if !locked {
			args = []string{"install", "--no-frozen-lockfile"}
		}
		if prod {
			args = append(args, "--prod")
		}
	}
	return args
}

// env are the variables that point the package manager's caches into
// the cache layer dir and keep it from asking or phoning home.
func (pm packageManager) env(app, cache string) map[string]string {
	switch {
	case pm.Name == "yarn" && pm.Berry:
		v := map[string]string{
			"YARN_CACHE_FOLDER": filepath.Join(cache, "berry"), "YARN_ENABLE_GLOBAL_CACHE": "false",
			"YARN_ENABLE_TELEMETRY": "0", "YARN_ENABLE_PROGRESS_BARS": "false", "COREPACK_ENABLE_STRICT": "0",
		}
		// node_modules, as the launch layers expect, unless the app
		// chose its linker
		if rc, _ := os.ReadFile(filepath.Join(app, ".yarnrc.yml")); !bytes.Contains(rc, []byte("nodeLinker")) {
			v["YARN_NODE_LINKER"] = "node-modules"
		}
		if pm.Lock != "" {
			// `yarn workspaces focus` has no --immutable flag
			v["YARN_ENABLE_IMMUTABLE_INSTALLS"] = "true"
		}
		return v
	case pm.Name == "yarn":
		return map[string]string{"YARN_CACHE_FOLDER": filepath.Join(cache, "yarn"), "COREPACK_ENABLE_STRICT": "0"}
	case pm.Name == "pnpm":
		return map[string]string{
			"npm_config_store_dir": filepath.Join(cache, "pnpm-store"), "CI": "true",
			"npm_config_manage_package_manager_versions": "false", "COREPACK_ENABLE_STRICT": "0",
		}
	}
	return nil
}

// lockName is the lockfile's name for messages.
func (pm packageManager) lockName() string {
	if pm.Lock != "" {
		return filepath.Base(pm.Lock)
	}
	return lockfiles[pm.Name][len(lockfiles[pm.Name])-1]
}
