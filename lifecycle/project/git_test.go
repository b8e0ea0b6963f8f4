package project

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// gitRepo makes a repository with one commit on main and an origin
// remote at dir, and returns HEAD's commit.
func gitRepo(t *testing.T, dir, remote string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed (make deps installs it)")
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return string(out[:len(out)-min(len(out), 1)])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "a")
	git("commit", "-q", "-m", "one")
	git("remote", "add", "origin", remote)
	return git("rev-parse", "HEAD")
}

func TestUntrustedGitSource(t *testing.T) {
	src := t.TempDir()
	head := gitRepo(t, src, "https://example.com/org/app.git")
	want := &labels.ProjectSource{Type: "git", Version: map[string]any{"commit": head},
		Metadata: map[string]any{"refs": []any{"main"}, "repository": "https://example.com/org/app.git"}}
	if diff := cmp.Diff(want, UntrustedGitSource(src)); diff != "" {
		t.Errorf("UntrustedGitSource of a plain checkout (-want +got):\n%s", diff)
	}

	// A host repository the hostile tree points at.
	host := filepath.Join(t.TempDir(), "host")
	hostHead := gitRepo(t, host, "https://example.com/secret/host.git")
	hostGit := filepath.Join(host, ".git")

	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string)
		want  *labels.ProjectSource
	}{
		{"gitdir file to a host repository", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, ".git"), "gitdir: "+hostGit+"\n")
		}, nil},
		{"relative gitdir file out of the tree", func(t *testing.T, dir string) {
			rel, _ := filepath.Rel(dir, hostGit)
			write(t, filepath.Join(dir, ".git"), "gitdir: "+rel+"\n")
		}, nil},
		{".git a symlink to a host repository", func(t *testing.T, dir string) {
			symlink(t, hostGit, filepath.Join(dir, ".git"))
		}, nil},
		{"HEAD a symlink to the host's", func(t *testing.T, dir string) {
			copyGit(t, src, dir)
			os.Remove(filepath.Join(dir, ".git", "HEAD"))
			symlink(t, filepath.Join(hostGit, "HEAD"), filepath.Join(dir, ".git", "HEAD"))
		}, nil},
		{"refs a symlink to the host's", func(t *testing.T, dir string) {
			copyGit(t, src, dir)
			os.RemoveAll(filepath.Join(dir, ".git", "refs"))
			symlink(t, filepath.Join(hostGit, "refs"), filepath.Join(dir, ".git", "refs"))
		}, nil},
		{"config a symlink to the host's", func(t *testing.T, dir string) {
			copyGit(t, src, dir)
			os.Remove(filepath.Join(dir, ".git", "config"))
			symlink(t, filepath.Join(hostGit, "config"), filepath.Join(dir, ".git", "config"))
		}, &labels.ProjectSource{Type: "git", Version: map[string]any{"commit": head},
			Metadata: map[string]any{"refs": []any{"main"}}}},
		{"commondir naming the host repository", func(t *testing.T, dir string) {
			copyGit(t, src, dir)
			os.RemoveAll(filepath.Join(dir, ".git", "refs", "heads"))
			os.Remove(filepath.Join(dir, ".git", "config"))
			write(t, filepath.Join(dir, ".git", "commondir"), hostGit+"\n")
		}, nil},
		{"HEAD a FIFO", func(t *testing.T, dir string) {
			copyGit(t, src, dir)
			os.Remove(filepath.Join(dir, ".git", "HEAD"))
			if err := syscall.Mkfifo(filepath.Join(dir, ".git", "HEAD"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.plant(t, dir)
			if diff := cmp.Diff(tc.want, UntrustedGitSource(dir)); diff != "" {
				t.Errorf("UntrustedGitSource (-want +got):\n%s", diff)
			}
		})
	}

	// GitSource, for the user's own tree, follows a worktree's gitdir.
	wt := filepath.Join(t.TempDir(), "wt")
	if out, err := exec.Command("git", "-C", host, "worktree", "add", "-q", "--detach", wt).CombinedOutput(); err != nil {
		t.Fatalf("git worktree add: %v\n%s", err, out)
	}
	got := GitSource(wt)
	if got == nil || got.Version["commit"] != hostHead {
		t.Errorf("GitSource of a worktree = %+v, want commit %s", got, hostHead)
	}
	if got != nil && got.Metadata["repository"] != "https://example.com/secret/host.git" {
		t.Errorf("GitSource of a worktree: repository = %v, want the common dir's origin", got.Metadata["repository"])
	}
	if got := UntrustedGitSource(wt); got != nil {
		t.Errorf("UntrustedGitSource of a worktree = %+v, want nil (its gitdir is outside)", got)
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// copyGit copies src/.git to dir/.git.
func copyGit(t *testing.T, src, dir string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", filepath.Join(src, ".git"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
}
