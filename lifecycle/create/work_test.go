package create

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-build/kiln/lifecycle/failure"
)

// workspaceSeen records, at each build phase, the inode and content of
// each file in the workspace, then runs also.
type workspaceSeen struct {
	inodes   []map[string]uint64
	contents []map[string]string
}

func (w *workspaceSeen) phase(f *fixture, also func(app string) error) phaseFunc {
	return func(ctx context.Context, h hostDirs) (int, error) {
		inodes, contents := map[string]uint64{}, map[string]string{}
		err := filepath.WalkDir(h.app, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(h.app, p)
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			inodes[rel], contents[rel] = fi.Sys().(*syscall.Stat_t).Ino, string(b)
			return err
		})
		if err != nil {
			return -1, err
		}
		w.inodes, w.contents = append(w.inodes, inodes), append(w.contents, contents)
		if also != nil {
			if err := also(h.app); err != nil {
				return -1, err
			}
		}
		return f.sb.buildOK(ctx, h)
	}
}

// reused is the info line of a build that synced the last build's
// workspace, or "".
func reused(f *fixture) string {
	i := slices.IndexFunc(f.log.of(Info), func(s string) bool { return strings.HasPrefix(s, "Reusing the last build's workspace") })
	if i < 0 {
		return ""
	}
	return f.log.of(Info)[i]
}

// sourceSettled waits until a source just written is old enough for a
// sync to trust its fingerprints (files changed within two seconds of a
// sync are copied again by the next one).
func sourceSettled() { time.Sleep(2100 * time.Millisecond) }

// A second build with the same source takes the first build's workspace
// and copies nothing; what a build wrote into its workspace is gone at
// the next one, which copies only what the build changed.
func TestWorkspaceKeptBetweenBuilds(t *testing.T) {
	f := newFixture(t)
	writeFile(t, filepath.Join(f.o.SourceDir, "lib", "a.txt"), "a")
	writeFile(t, filepath.Join(f.o.SourceDir, "lib", "b.txt"), "b")
	sourceSettled()
	var seen workspaceSeen
	f.sb.phases["build"] = seen.phase(f, nil)
	f.mustBuild()
	f.checkClean()
	if reused(f) != "" {
		t.Errorf("a first build reused a workspace: %q", reused(f))
	}
	if _, err := os.Stat(filepath.Join(cacheDirFor(f.o.CacheDir, f.o.Name), "workspace", "manifest")); err != nil {
		t.Fatalf("the first build kept no workspace: %v", err)
	}

	f.sb.phases["build"] = seen.phase(f, func(app string) error {
		// The build rewrites a source file in place and adds its output.
		if err := os.WriteFile(filepath.Join(app, "lib", "a.txt"), []byte("X"), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(app, "out.bin"), []byte("output"), 0o644)
	})
	f.mustBuild()
	f.checkClean()
	if w := f.log.of(Warning); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
	if got, want := reused(f), "Reusing the last build's workspace: 5 entries unchanged, 0 copied, 0 removed"; got != want {
		t.Errorf("second build: %q, want %q", got, want)
	}
	for p, ino := range seen.inodes[0] {
		if seen.inodes[1][p] != ino {
			t.Errorf("second build: %s was copied again", p)
		}
	}

	f.sb.phases["build"] = seen.phase(f, nil)
	f.mustBuild()
	if got, want := reused(f), "Reusing the last build's workspace: 4 entries unchanged, 1 copied, 1 removed"; got != want {
		t.Errorf("third build: %q, want %q", got, want)
	}
	want := map[string]string{"main.sh": "echo hi\n", "lib/a.txt": "a", "lib/b.txt": "b"}
	for p, c := range want {
		if got := seen.contents[2][p]; got != c {
			t.Errorf("third build: %s holds %q, want %q", p, got, c)
		}
	}
	if len(seen.contents[2]) != len(want) {
		t.Errorf("third build's workspace: %q", seen.contents[2])
	}
	if seen.inodes[2]["main.sh"] != seen.inodes[1]["main.sh"] {
		t.Error("an unchanged file was copied again")
	}
	f.checkClean()
}

// --clear-cache and a failed build both leave the next build a full copy.
func TestWorkspaceNotKept(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fixture)
	}{
		{"clear cache", func(f *fixture) { f.o.ClearCache = true }},
		{"failed build", func(f *fixture) {
			f.sb.phases["build"] = failing(failure.BuildpackFailed, BuildErrorRel, "failed")
			if _, err := f.run(bg); err == nil {
				f.t.Fatal("the build did not fail")
			}
			if reused(f) == "" {
				f.t.Error("the failed build did not reuse the workspace")
			}
			f.sb.phases["build"] = f.sb.buildOK
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustBuild()
			tc.setup(f)
			f.mustBuild()
			if reused(f) != "" {
				t.Errorf("the workspace was kept: %q", reused(f))
			}
			f.checkClean()
		})
	}
}
