// Package progrun runs a buildpack's or an extension's program inside the
// build container: in its own process group, killed whole when the
// context ends (shells leave children behind), its output streamed line
// by line behind a prefix naming it (internal/linewriter).
package progrun
