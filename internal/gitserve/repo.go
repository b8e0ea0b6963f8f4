package gitserve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ensureRepo makes sure app's bare repository exists with the current
// hook, creating the app first when an admin pushes to it. A repository
// appears whole or not at all: it is made under a temporary name and
// renamed into place.
func (h *handler) ensureRepo(ctx context.Context, app string, admin bool, repo string) error {
	if admin {
		if err := h.o.Builds.EnsureApp(ctx, app); err != nil {
			return fmt.Errorf("creating app %s: %w", app, err)
		}
	}
	if _, err := os.Stat(repo); os.IsNotExist(err) {
		if err := h.initRepo(ctx, repo); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	return h.installHook(repo)
}

func (h *handler) initRepo(ctx context.Context, repo string) error {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(h.o.ReposDir, ".new-"+hex.EncodeToString(rnd[:]))
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "git", "init", "--bare", "--quiet", "--template=", "--initial-branch=main", tmp)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %v: %s", err, bytes.TrimSpace(out))
	}
	if err := h.installHook(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, repo); err != nil {
		if _, serr := os.Stat(repo); serr == nil {
			return nil // another push made it first
		}
		return fmt.Errorf("creating %s: %w", repo, err)
	}
	return nil
}

// installHook writes the repository's pre-receive hook unless it is
// already the one this process writes. The new hook is written to a file
// of its own and renamed into place, so pushes that replace a stale hook
// at the same time neither fail nor run a half-written one.
func (h *handler) installHook(repo string) error {
	p := filepath.Join(repo, "hooks", "pre-receive")
	if got, err := os.ReadFile(p); err == nil && string(got) == h.hook {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".pre-receive-*")
	if err != nil {
		return fmt.Errorf("writing the pre-receive hook: %w", err)
	}
	defer os.Remove(f.Name()) // after a failure; gone once renamed
	_, err = f.WriteString(h.hook)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o755)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("writing the pre-receive hook: %w", err)
	}
	return nil
}

// hookScript is the pre-receive hook: it execs the command, every word
// single-quoted. It is the only shell kiln runs for a push.
func hookScript(command []string) string {
	q := make([]string, len(command))
	for i, w := range command {
		q[i] = shellQuote(w)
	}
	return "#!/bin/sh\n# Installed by kiln serve: every push to this repository builds here.\nexec " + strings.Join(q, " ") + "\n"
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
