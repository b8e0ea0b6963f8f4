// Package buildsbom carries a build's build-time software bills of
// materials from where the buildpacks write them to where a platform reads
// them, in the CNB lifecycle's layout (platform.md, exporter: the
// <layers> directory):
//
//	<layers>/sbom/build/<buildpack>/sbom.<ext>          build.sbom.<ext>
//	<layers>/sbom/build/<buildpack>/<layer>/sbom.<ext>  <layer>.sbom.<ext> of a layer that is not a launch layer
//	<layers>/sbom/build/sbom.legacy.json                build.toml's legacy [[bom]] entries, each with its buildpack
//
// where <buildpack> is the escaped buildpack ID and <ext> cdx.json,
// spdx.json or syft.json. None of it enters the app image: it describes
// the build container, not what runs.
//
// [Write] runs inside the build container, after the last buildpack (the
// build phase has already checked each file's format against the
// buildpack's sbom-formats). [Read] runs on the host and takes what the
// container left as hostile: it never follows a link, accepts only
// regular files and directories at the paths above, buildpacks of the
// group and known extensions, and bounds the entries and bytes it reads
// (sbom.MaxEntries, sbom.MaxDocument each, sbom.MaxTotal in all); any
// violation is an error naming the file.
package buildsbom
