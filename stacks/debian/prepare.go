package debian

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/kiln-build/kiln/stacks/debian/accounts"
	"github.com/kiln-build/kiln/stacks/debian/dpkg"
	"github.com/kiln-build/kiln/stacks/debian/osrelease"
	"github.com/kiln-build/kiln/stacks/debian/rootfs"
)

// facts are what Build learns from the root file system.
type facts struct {
	packages      []dpkg.Package
	distroName    string
	distroVersion string
	epoch         time.Time
}

// inspect reads the package list, the distribution and the image time
// from the untouched root file system.
func inspect(a *rootfs.Archive, r Recipe) (facts, error) {
	var f facts
	status, err := a.ReadFile("var/lib/dpkg/status")
	if err != nil {
		return f, fmt.Errorf("reading the installed package list: %w", err)
	}
	if f.packages, err = dpkg.ParseStatus(status); err != nil {
		return f, err
	}

	osr, err := a.ReadFile("etc/os-release")
	if errors.Is(err, fs.ErrNotExist) {
		osr, err = a.ReadFile("usr/lib/os-release")
	}
	if err != nil {
		return f, fmt.Errorf("reading os-release: %w", err)
	}
	fields, err := osrelease.Parse(osr)
	if err != nil {
		return f, err
	}
	f.distroName = fields["ID"]
	if f.distroName == "" {
		f.distroName = "debian"
	}
	// Testing and unstable have no VERSION_ID; their code name is the
	// closest stable identifier.
	f.distroVersion = firstNonEmpty(fields["VERSION_ID"], fields["VERSION_CODENAME"], r.Suite)

	if r.SourceDateEpoch > 0 {
		f.epoch = time.Unix(r.SourceDateEpoch, 0).UTC()
		return f, nil
	}
	f.epoch = DefaultTime
	for _, name := range a.Names() {
		if !isChangelog(name) {
			continue
		}
		h, _ := a.Header(name)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		gz, err := a.ReadFile(name)
		if err != nil {
			return f, err
		}
		t, err := dpkg.ChangelogDate(gz)
		if err != nil {
			return f, fmt.Errorf("/%s: %w", name, err)
		}
		if t.After(f.epoch) {
			f.epoch = t
		}
	}
	return f, nil
}

// isChangelog matches usr/share/doc/<pkg>/changelog.Debian.gz and the
// per-architecture changelogs of binary-only uploads.
func isChangelog(name string) bool {
	dir, file := path.Split(name)
	if path.Dir(strings.TrimSuffix(dir, "/")) != "usr/share/doc" {
		return false
	}
	return strings.HasPrefix(file, "changelog.Debian") && strings.HasSuffix(file, ".gz")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// dropDirContents lists directories whose files (not subdirectories) are
// state of the build machine or of the bootstrap: apt's package lists and
// download cache.
var dropDirContents = []string{"var/cache/apt", "var/lib/apt/lists"}

// dropFiles are single files that differ from build to build.
var dropFiles = []string{
	"var/cache/ldconfig/aux-cache",
	"var/lib/dbus/machine-id",
}

// oldBackupDirs hold "-old" backups written by dpkg and debconf.
var oldBackupDirs = []string{"var/lib/dpkg", "var/cache/debconf"}

// clean removes what must not be in a base image: device nodes and
// everything else under /dev (the runtime provides /dev), caches, logs,
// temporary files and files copied from the host.
func clean(a *rootfs.Archive) error {
	a.RemoveFunc(func(name string, h tar.Header) bool {
		switch {
		case h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock:
			return true
		case strings.HasPrefix(name, "dev/"), strings.HasPrefix(name, "tmp/"):
			return true
		case h.Typeflag == tar.TypeDir:
			return false
		}
		for _, d := range dropDirContents {
			if strings.HasPrefix(name, d+"/") {
				return true
			}
		}
		for _, d := range oldBackupDirs {
			if path.Dir(name) == d && strings.HasSuffix(name, "-old") {
				return true
			}
		}
		return false
	})
	for _, f := range dropFiles {
		a.Remove(f)
	}
	for _, name := range a.Names() {
		h, _ := a.Header(name)
		if strings.HasPrefix(name, "var/log/") && h.Typeflag == tar.TypeReg && h.Size > 0 {
			if err := a.WriteFile(name, nil); err != nil {
				return err
			}
		}
	}
	// mmdebstrap copies these from the host; the runtime mounts its own,
	// and an empty file keeps the mount point.
	for _, f := range []string{"etc/resolv.conf", "etc/hostname"} {
		if err := a.Create(f, nil, 0o644, 0, 0); err != nil {
			return err
		}
	}
	if h, ok := a.Header("etc/machine-id"); ok && h.Typeflag == tar.TypeReg {
		if err := a.Create("etc/machine-id", nil, 0o444, 0, 0); err != nil {
			return err
		}
	}
	for _, d := range []string{"dev", "tmp"} {
		if _, ok := a.Header(d); !ok {
			perm := int64(0o755)
			if d == "tmp" {
				perm = 0o1777
			}
			if err := a.Mkdir(d, perm, 0, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// removePatterns drops what the recipe's remove list names; a pattern
// matching nothing is an error, as it is most likely a typing mistake.
func removePatterns(a *rootfs.Archive, patterns []string) error {
	for _, p := range patterns {
		pat := strings.TrimPrefix(p, "/")
		n := a.RemoveFunc(func(name string, _ tar.Header) bool {
			for cur := name; cur != "."; cur = path.Dir(cur) {
				if ok, _ := path.Match(pat, cur); ok {
					return true
				}
			}
			return false
		})
		if n == 0 {
			return fmt.Errorf("recipe remove %q: matches nothing in the root file system", p)
		}
	}
	return nil
}

// addUser adds the CNB user and group, its home and the CNB directories.
func addUser(a *rootfs.Archive, r Recipe, epoch time.Time) error {
	home := "/home/" + r.User
	u := accounts.User{Name: r.User, UID: r.UID, Group: r.Group, GID: r.GID, Home: home, Shell: loginShell(a)}
	var in accounts.Files
	var err error
	if in.Passwd, err = a.ReadFile("etc/passwd"); err != nil {
		return fmt.Errorf("adding user %s: %w", r.User, err)
	}
	if in.Group, err = a.ReadFile("etc/group"); err != nil {
		return fmt.Errorf("adding user %s: %w", r.User, err)
	}
	optional := func(name string) ([]byte, error) {
		b, err := a.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	if in.Shadow, err = optional("etc/shadow"); err != nil {
		return fmt.Errorf("adding user %s: %w", r.User, err)
	}
	if in.GShadow, err = optional("etc/gshadow"); err != nil {
		return fmt.Errorf("adding user %s: %w", r.User, err)
	}
	out, err := accounts.Add(in, u, int(epoch.Unix()/86400))
	if err != nil {
		return fmt.Errorf("adding user %s: %w", r.User, err)
	}
	for _, f := range []struct {
		name     string
		old, new []byte
	}{
		{"etc/passwd", in.Passwd, out.Passwd},
		{"etc/group", in.Group, out.Group},
		{"etc/shadow", in.Shadow, out.Shadow},
		{"etc/gshadow", in.GShadow, out.GShadow},
	} {
		if string(f.old) == string(f.new) {
			continue
		}
		target, err := a.Resolve(f.name)
		if err != nil {
			return err
		}
		if err := a.WriteFile(target, f.new); err != nil {
			return fmt.Errorf("adding user %s: %w", r.User, err)
		}
	}
	if _, ok := a.Header("home"); !ok {
		if err := a.Mkdir("home", 0o755, 0, 0); err != nil {
			return err
		}
	}
	for _, d := range []string{strings.TrimPrefix(home, "/"), "workspace", "layers", "platform"} {
		if err := a.Mkdir(d, 0o755, r.UID, r.GID); err != nil {
			return err
		}
	}
	return nil
}

// loginShell picks bash when the image has it, else sh, else nologin.
func loginShell(a *rootfs.Archive) string {
	for _, sh := range []string{"/bin/bash", "/bin/sh"} {
		if target, err := a.Resolve(sh); err == nil {
			if h, ok := a.Header(target); ok && h.Typeflag == tar.TypeReg {
				return sh
			}
		}
	}
	return "/usr/sbin/nologin"
}
