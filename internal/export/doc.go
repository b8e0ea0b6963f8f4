// Package export makes the app image on the host, after the build
// container has finished: the run image, then one layer per launch layer
// of each buildpack (in group order), one SBOM layer, the app layers
// (slices first, then the rest), the launcher layer and a config layer with
// metadata.toml and the /cnb/process/<type> links. It sets the entrypoint,
// env, working dir and the io.buildpacks.* labels per platform.md
// (Platform API 0.15), and writes every new layer reproducibly: entries
// sorted, one fixed mtime, normalised owners.
package export
