// Package project reads the project descriptor (project.toml) of an app,
// as the CNB project descriptor extension defines it, in both of its
// schemas:
//
//   - 0.2 (a [_] table with schema-version = "0.2"): [_] holds the
//     project's id, name, version, authors, URLs, licences and free-form
//     metadata; [io.buildpacks] holds builder, include/exclude, the
//     buildpack group, pre and post groups and the build environment;
//   - 0.1 (no [_] table; pack's older form): [project], [build] with
//     include/exclude, [[build.buildpacks]] and [[build.env]], and
//     [metadata].
//
// Both decode to one [Descriptor], so callers do not branch on the schema.
// Read checks what the spec requires (include and exclude exclude each
// other; a group entry names an id, a uri or an inline script) and says
// which key of which file is wrong; keys it does not know are reported as
// warnings, not refused, since other tools add their own.
//
// [Descriptor.Filter] turns include/exclude into a predicate on paths
// relative to the project root with gitignore semantics (the
// sabhiram/go-gitignore matcher pack uses), applied before the source
// enters the workspace. [Buildpack.Materialize] writes an inline
// buildpack (a group entry with a script) as a buildpack directory.
// [GitSource] reads the commit and remote of a git checkout for the
// io.buildpacks.project.metadata label, from the .git directory's files
// alone: nothing in the checkout is executed.
package project
