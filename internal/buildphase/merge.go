package buildphase

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
	"github.com/kiln-build/kiln/lifecycle/launch"
)

// api0_9 is the first Buildpack API whose processes are always direct, with
// command an array and args overridable.
var api0_9 = descriptor.API{Major: 0, Minor: 9}

// contribution is one buildpack's launch.toml, ready to merge.
type contribution struct {
	buildpackID string
	api         descriptor.API
	launch      launch.Launch
}

// merger accumulates the contributions of the buildpacks in group order.
type merger struct {
	appDir      string
	processes   []launch.MetadataProcess
	defaultType string
	labels      []launch.Label
	slices      []launch.Slice
}

// add merges c:
//   - a process replaces an earlier one of the same type (keeping its
//     position); a buildpack's default process becomes the default; a
//     later non-default process of the default's type clears the default;
//   - a label replaces an earlier one with the same key;
//   - slices are appended.
func (m *merger) add(c contribution) {
	for _, p := range c.launch.Processes {
		mp := m.resolve(c, p)
		replaced := false
		for i := range m.processes {
			if m.processes[i].Type == mp.Type {
				m.processes[i] = mp
				replaced = true
				break
			}
		}
		if !replaced {
			m.processes = append(m.processes, mp)
		}
		switch {
		case p.Default:
			m.defaultType = p.Type
		case p.Type == m.defaultType:
			m.defaultType = ""
		}
	}
	for _, l := range c.launch.Labels {
		replaced := false
		for i := range m.labels {
			if m.labels[i].Key == l.Key {
				m.labels[i] = l
				replaced = true
				break
			}
		}
		if !replaced {
			m.labels = append(m.labels, l)
		}
	}
	m.slices = append(m.slices, c.launch.Slices...)
}

// resolve turns a launch.toml process into its metadata.toml form: an
// absolute working directory (the app dir when unset, relative ones taken
// from the app dir), exec-env ["*"] when unrestricted, and the buildpack
// API's execution strategy (always direct from 0.9; before that, the
// declared direct flag, default false).
func (m *merger) resolve(c contribution, p launch.Process) launch.MetadataProcess {
	wd := p.WorkingDir
	switch {
	case wd == "":
		wd = m.appDir
	case !filepath.IsAbs(wd):
		wd = filepath.Join(m.appDir, wd)
	}
	execEnv := p.ExecEnv
	if len(execEnv) == 0 {
		execEnv = []string{launch.AllExecEnvs}
	}
	direct := true
	if !c.api.AtLeast(api0_9) {
		direct = p.Direct != nil && *p.Direct
	}
	args := p.Args
	if args == nil {
		args = []string{}
	}
	return launch.MetadataProcess{
		Type:        p.Type,
		Command:     append([]string(nil), p.Command...),
		Args:        append([]string{}, args...),
		Direct:      direct,
		WorkingDir:  wd,
		ExecEnv:     append([]string(nil), execEnv...),
		BuildpackID: c.buildpackID,
	}
}

// checkSlices checks that every slice glob of launch.toml at path is a
// valid pattern inside appDir: relative without leading "..", or absolute
// under appDir.
func checkSlices(path, appDir string, slices []launch.Slice) error {
	for i, s := range slices {
		for _, g := range s.Paths {
			if _, err := filepath.Match(g, ""); err != nil {
				return fmt.Errorf("%s: slice %d: bad pattern %q: %w", path, i, g, err)
			}
			rel := g
			if filepath.IsAbs(g) {
				r, err := filepath.Rel(appDir, g)
				if err != nil {
					return fmt.Errorf("%s: slice %d: %q is outside the app directory %s", path, i, g, appDir)
				}
				rel = r
			}
			if c := filepath.Clean(rel); c == ".." || strings.HasPrefix(c, "../") {
				return fmt.Errorf("%s: slice %d: %q is outside the app directory %s", path, i, g, appDir)
			}
		}
	}
	return nil
}
