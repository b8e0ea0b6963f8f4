package dockerfile

import (
	"fmt"
	"strings"
)

// Generated is one image extension's output from the generate phase.
type Generated struct {
	// Extension is the extension's id@version, for messages.
	Extension string
	// Run and Build are its run.Dockerfile and build.Dockerfile; nil
	// when it wrote none.
	Run, Build []byte
}

// Choice is what the extensions' Dockerfiles decide.
type Choice struct {
	// RunImage is the image the deciding run.Dockerfile switches the run
	// image to; empty when the run image stays.
	RunImage string
	// By is the extension whose run.Dockerfile chose RunImage.
	By string
	// Ignored are the extensions whose run.Dockerfile a later switch
	// makes moot (the lifecycle renames them .ignore).
	Ignored []string
}

// Refusal is one Dockerfile kiln would have to apply.
type Refusal struct {
	Extension string
	File      string
	Apply     []Instruction
}

// RefusedError says which extensions' Dockerfiles need instructions
// applied, which kiln does not do.
type RefusedError struct {
	Refusals []Refusal
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	for i, r := range e.Refusals {
		if i > 0 {
			b.WriteString("\n")
		}
		names := make([]string, len(r.Apply))
		for j, in := range r.Apply {
			names[j] = in.String()
		}
		fmt.Fprintf(&b, "extension %s: its %s asks for %s", r.Extension, r.File, strings.Join(names, ", "))
	}
	b.WriteString("\nkiln does not apply Dockerfile instructions: of an extension's Dockerfiles it honours only a run.Dockerfile that switches the run image (ARG and FROM <image>); build with a builder without this extension, or with a platform that extends images (pack)")
	return b.String()
}

// Choose applies platform.md's rule to the extensions' output, in group
// order: the run image is the one named by the last run.Dockerfile that
// does not say FROM ${base_image} (the run.Dockerfiles before it are
// ignored), else the run image stays. Every Dockerfile that would still
// be applied must change nothing: a run.Dockerfile with no instruction
// but ARG and FROM, a build.Dockerfile with nothing after FROM
// ${base_image}; otherwise the error is a *RefusedError naming each.
// A Dockerfile that does not parse is an error naming its extension.
func Choose(gen []Generated) (Choice, error) {
	type parsed struct {
		ext        string
		run, build *Info
	}
	all := make([]parsed, len(gen))
	for i, g := range gen {
		all[i].ext = g.Extension
		for _, f := range []struct {
			kind Kind
			data []byte
			out  **Info
		}{{Run, g.Run, &all[i].run}, {Build, g.Build, &all[i].build}} {
			if f.data == nil {
				continue
			}
			info, err := Parse(f.kind, f.data)
			if err != nil {
				return Choice{}, fmt.Errorf("extension %s: %w", g.Extension, err)
			}
			*f.out = &info
		}
	}
	var c Choice
	refused := map[int]*Refusal{}
	for i := len(all) - 1; i >= 0; i-- {
		p := all[i]
		if p.run == nil {
			continue
		}
		if c.RunImage != "" {
			c.Ignored = append([]string{p.ext}, c.Ignored...)
			continue
		}
		if len(p.run.Apply) > 0 {
			refused[i] = &Refusal{Extension: p.ext, File: Run.File(), Apply: p.run.Apply}
		}
		if p.run.From != "" {
			c.RunImage, c.By = p.run.From, p.ext
		}
	}
	var err RefusedError
	for i, p := range all {
		if r := refused[i]; r != nil {
			err.Refusals = append(err.Refusals, *r)
		}
		if p.build != nil && len(p.build.Apply) > 0 {
			err.Refusals = append(err.Refusals, Refusal{Extension: p.ext, File: Build.File(), Apply: p.build.Apply})
		}
	}
	if len(err.Refusals) > 0 {
		return Choice{}, &err
	}
	return c, nil
}
