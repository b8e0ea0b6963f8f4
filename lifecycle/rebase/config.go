package rebase

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/labels"
)

// exporterVars are the variables the exporter sets itself, whatever the
// run image says.
var exporterVars = map[string]bool{"CNB_LAYERS_DIR": true, "CNB_APP_DIR": true, "CNB_PLATFORM_API": true}

// defaultPath is the exporter's PATH for a run image that sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const processDir = "/cnb/process"

// MergeEnv is the rebased image's environment, laid out as the exporter
// lays it out: the new run image's variables (its own PATH aside) in its
// order, then the app's CNB_* variables the run image does not set (the
// exporter's CNB_LAYERS_DIR, CNB_APP_DIR, CNB_PLATFORM_API always come
// from the app), then PATH: the run image's (or the exporter's default)
// with /cnb/process in front when the app had it there. Everything else
// the app's environment held came from the old run image and is dropped.
func MergeEnv(app, run []string) []string {
	runPath, runHasPath := "", false
	var out []string
	seen := map[string]bool{}
	for _, kv := range run {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH":
			runPath, runHasPath = v, true
			continue
		case exporterVars[k]:
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, kv)
	}
	appPath, appHasPath := "", false
	for _, kv := range app {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PATH" {
			appPath, appHasPath = v, true
			continue
		}
		// The run image's CNB_* values win, except for the exporter's own
		// variables, which were left out above.
		if !strings.HasPrefix(k, "CNB_") || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, kv)
	}
	if !runHasPath {
		runPath = defaultPath
	}
	switch {
	case appHasPath && (appPath == processDir || strings.HasPrefix(appPath, processDir+":")):
		out = append(out, "PATH="+processDir+":"+runPath)
	case appHasPath || runHasPath:
		out = append(out, "PATH="+runPath)
	}
	return out
}

// baseLabels replaces the io.buildpacks.base.* and io.buildpacks.stack.*
// labels in app with those of the new run image.
func baseLabels(app, run map[string]string) {
	for k := range app {
		if labels.IsBase(k) {
			delete(app, k)
		}
	}
	for k, v := range run {
		if labels.IsBase(k) {
			app[k] = v
		}
	}
}

// rebaseHistory is the new run image's history followed by the app's
// entries for its own layers (those from index from on, of n layers). When
// a history does not match its layers, each layer gets a plain entry.
func rebaseHistory(app []v1.History, from, n int, run []v1.History, runN int, created v1.Time) []v1.History {
	appTail, appOK := historyFrom(app, from, n)
	runOK := nonEmpty(run) == runN
	if len(app) == 0 && len(run) == 0 {
		return nil
	}
	var out []v1.History
	if runOK {
		out = append(out, run...)
	} else {
		for range runN {
			out = append(out, v1.History{Created: created, CreatedBy: "kiln rebase: run image layer"})
		}
	}
	if appOK {
		out = append(out, appTail...)
	} else {
		for range n - from {
			out = append(out, v1.History{Created: created, CreatedBy: "kiln rebase: app layer"})
		}
	}
	return out
}

// historyFrom returns the entries of h from the one describing layer index
// from on: empty-layer entries right after the run image's last layer stay
// with the run image. ok is false when h does not describe n layers.
func historyFrom(h []v1.History, from, n int) ([]v1.History, bool) {
	if nonEmpty(h) != n {
		return nil, false
	}
	seen := 0
	for i, e := range h {
		if e.EmptyLayer {
			continue
		}
		if seen == from {
			return append([]v1.History(nil), h[i:]...), true
		}
		seen++
	}
	return nil, true
}

func nonEmpty(h []v1.History) int {
	n := 0
	for _, e := range h {
		if !e.EmptyLayer {
			n++
		}
	}
	return n
}

// UpdateLifecycleLabel returns the io.buildpacks.lifecycle.metadata value
// raw with its runImage set to ri and, when present, the deprecated
// stack.runImage set to ri's image and mirrors. Keys kiln does not know
// are kept: when the label holds any, it is rewritten with sorted keys;
// otherwise in the exporter's key order.
func UpdateLifecycleLabel(raw string, ri labels.RunImage) (string, error) {
	var generic map[string]any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return "", fmt.Errorf("%w: label %s: %w", ErrNotAppImage, labels.LifecycleMetadata, err)
	}
	if generic == nil {
		return "", fmt.Errorf("%w: label %s is not a JSON object", ErrNotAppImage, labels.LifecycleMetadata)
	}
	if rest := raw[dec.InputOffset():]; strings.TrimSpace(rest) != "" {
		return "", fmt.Errorf("%w: label %s: data after the JSON object", ErrNotAppImage, labels.LifecycleMetadata)
	}
	// Go readers match keys case-insensitively: a "runimage" key would
	// shadow the new "runImage" for them.
	_, hasStack := generic["stack"]
	for k := range generic {
		if k != "runImage" && strings.EqualFold(k, "runImage") || k != "stack" && strings.EqualFold(k, "stack") {
			delete(generic, k)
		}
	}
	stack := labels.StackRunImage{RunImage: labels.RunImage{Image: ri.Image, Mirrors: ri.Mirrors}}
	g, err := toGeneric(ri)
	if err != nil {
		return "", err
	}
	generic["runImage"] = g
	if hasStack {
		if generic["stack"], err = toGeneric(stack); err != nil {
			return "", err
		}
	}

	// The typed form keeps the exporter's key order; use it when it loses
	// nothing.
	var md labels.Lifecycle
	if err := json.Unmarshal([]byte(raw), &md); err == nil {
		md.RunImage = ri
		if hasStack {
			md.Stack = &stack
		}
		if typed, err := labels.Encode(md); err == nil {
			if back, err := toGenericBytes([]byte(typed)); err == nil && reflect.DeepEqual(back, any(generic)) {
				return typed, nil
			}
		}
	}
	b, err := json.Marshal(generic)
	if err != nil {
		return "", fmt.Errorf("encoding label %s: %w", labels.LifecycleMetadata, err)
	}
	return string(b), nil
}

func toGeneric(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding label %s: %w", labels.LifecycleMetadata, err)
	}
	return toGenericBytes(b)
}

func toGenericBytes(b []byte) (any, error) {
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}
