// Package launch holds the TOML files a buildpack writes for launch and
// build, and the platform file the builder writes for the exporter and the
// launcher:
//
//   - <layers>/<bp>/launch.toml: labels, processes and slices (Launch);
//   - <layers>/<bp>/build.toml: unmet plan entries (Build);
//   - <layers>/<bp>/store.toml: data kept across builds (Store);
//   - <layers>/<bp>/<layer>.toml: layer types and metadata (Layer);
//   - <layers>/config/metadata.toml: the merged result of the build phase
//     (Metadata), as platform.md describes it.
//
// Every Read function names the file in its errors and validates what the
// spec requires of that file; Write functions write the file whole.
package launch
