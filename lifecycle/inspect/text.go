package inspect

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// WriteText writes r for people: sections of aligned columns.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	p("Kind:\t%s image", r.Kind)
	p("Digest:\t%s", r.Digest)
	if r.OS != "" {
		p("Platform:\t%s/%s", r.OS, r.Architecture)
	}
	p("Created:\t%s", r.Created.Format("2006-01-02T15:04:05Z"))
	switch {
	case r.App != nil:
		writeApp(p, r.App)
	case r.Builder != nil:
		writeBuilder(p, r.Builder)
	case r.Buildpackage != nil:
		writePackage(p, r.Buildpackage)
	}
	return tw.Flush()
}

type printer func(format string, a ...any)

func writeApp(p printer, a *App) {
	p("")
	p("Run image:\t%s", a.RunImage.Image)
	if len(a.RunImage.Mirrors) > 0 {
		p("Mirrors:\t%s", strings.Join(a.RunImage.Mirrors, ", "))
	}
	if a.RunImage.Reference != "" {
		p("Reference:\t%s", a.RunImage.Reference)
	}
	if a.RunImage.TopLayer != "" {
		p("Top layer:\t%s", a.RunImage.TopLayer)
	}
	if a.Launcher != "" {
		p("Launcher:\t%s", a.Launcher)
	}
	writeLabels(p, "Base image labels:", a.BaseLabels)
	p("")
	p("Buildpacks:")
	if len(a.Buildpacks) == 0 {
		p("  (none)")
	} else {
		p("  ID\tVERSION\tHOMEPAGE")
		for _, b := range a.Buildpacks {
			p("  %s\t%s\t%s", b.ID, b.Version, dash(b.Homepage))
		}
	}
	p("")
	p("Processes:")
	if len(a.Processes) == 0 {
		p("  (none)")
	} else {
		p("  TYPE\tSHELL\tCOMMAND\tARGS\tWORK DIR")
		for _, pr := range a.Processes {
			t := pr.Type
			if pr.Default {
				t += " (default)"
			}
			shell := "bash"
			if pr.Direct {
				shell = "-"
			}
			p("  %s\t%s\t%s\t%s\t%s", t, shell, strings.Join(pr.Command, " "), dash(strings.Join(pr.Args, " ")), dash(pr.WorkingDir))
		}
	}
	p("")
	p("Layers:")
	p("  DIGEST\tSIZE\tHOLDS")
	for _, l := range a.Layers {
		p("  %s\t%s\t%s", short(l.Digest), HumanSize(l.Size), dash(l.Role))
	}
}

func writeBuilder(p printer, b *Builder) {
	p("")
	p("Description:\t%s", dash(b.Description))
	p("Created by:\t%s", dash(b.CreatedBy))
	if b.Stack != "" {
		p("Stack:\t%s", b.Stack)
	}
	p("Build user:\t%s", dash(b.BuildUser))
	if len(b.BuildpackAPIs) > 0 {
		p("Buildpack APIs:\t%s", strings.Join(b.BuildpackAPIs, ", "))
	}
	if len(b.PlatformAPIs) > 0 {
		p("Platform APIs:\t%s", strings.Join(b.PlatformAPIs, ", "))
	}
	writeLabels(p, "Build image labels:", b.BaseLabels)
	p("")
	p("Run images:")
	if len(b.RunImages) == 0 {
		p("  (none)")
	}
	for _, r := range b.RunImages {
		p("  %s", r.Image)
		for _, m := range r.Mirrors {
			p("  %s (mirror)", m)
		}
	}
	p("")
	writeBuildpacks(p, b.Buildpacks)
	if len(b.Extensions) > 0 {
		p("")
		p("Image extensions:")
		writeModules(p, b.Extensions)
	}
	p("")
	p("Detection order:")
	if len(b.Order) == 0 {
		p("  (none)")
	}
	writeOrder(p, b.Order, "  ")
	if len(b.OrderExtensions) > 0 {
		p("")
		p("Extension order (tried before each group, each optional):")
		writeOrder(p, b.OrderExtensions, "  ")
	}
}

func writePackage(p printer, b *Buildpackage) {
	p("")
	p("Buildpack:\t%s@%s", b.ID, b.Version)
	if b.Homepage != "" {
		p("Homepage:\t%s", b.Homepage)
	}
	var targets []string
	for _, t := range b.Targets {
		s := dash(t.OS) + "/" + dash(t.Arch)
		if t.Variant != "" {
			s += "/" + t.Variant
		}
		for _, d := range t.Distros {
			s += " " + d.Name + "@" + d.Version
		}
		targets = append(targets, s)
	}
	if len(targets) > 0 {
		p("Targets:\t%s", strings.Join(targets, ", "))
	}
	if len(b.Stacks) > 0 {
		p("Stacks:\t%s", strings.Join(b.Stacks, ", "))
	}
	p("")
	writeBuildpacks(p, b.Buildpacks)
	if len(b.Order) > 0 {
		p("")
		p("Order of %s:", b.ID)
		writeOrder(p, b.Order, "  ")
	}
}

func writeBuildpacks(p printer, bps []Buildpack) {
	p("Buildpacks:")
	if len(bps) == 0 {
		p("  (none)")
		return
	}
	writeModules(p, bps)
}

// writeModules is the table of buildpacks or image extensions.
func writeModules(p printer, bps []Buildpack) {
	p("  ID\tVERSION\tAPI\tNAME\tHOMEPAGE")
	for _, b := range bps {
		name := b.Name
		if b.Composite {
			name = strings.TrimSpace(name + " (composite)")
		}
		p("  %s\t%s\t%s\t%s\t%s", b.ID, b.Version, dash(b.API), dash(name), dash(b.Homepage))
	}
}

func writeOrder(p printer, o []Group, indent string) {
	for i, g := range o {
		p("%sGroup %d:", indent, i+1)
		for _, e := range g.Group {
			s := e.ID
			if e.Version != "" {
				s += "@" + e.Version
			}
			if e.Optional {
				s += " (optional)"
			}
			p("%s  %s", indent, s)
			writeOrder(p, e.Order, indent+"    ")
		}
	}
}

func writeLabels(p printer, title string, l map[string]string) {
	if len(l) == 0 {
		return
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	p(title)
	for _, k := range keys {
		p("  %s\t%s", k, l[k])
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short cuts a digest to the algorithm and 12 hex digits.
func short(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// HumanSize formats a byte count in binary units ("13.5 MiB").
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
