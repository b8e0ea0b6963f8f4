// Package descriptor reads and writes the TOML files that describe
// buildpacks and the outcome of the detect phase, following Buildpack API
// 0.12 and Platform API 0.15 of the Cloud Native Buildpacks spec:
//
//   - buildpack.toml (the buildpack descriptor, [Buildpack], [ReadBuildpack]);
//   - extension.toml (an image extension's descriptor, read into the same
//     [Buildpack] type with Kind [KindExtension], [ReadExtension]);
//   - order.toml with its [[order-extensions]] ([Orders], [ReadOrders]) and
//     group.toml with its [[group-extensions]] ([Groups], [ReadGroups]);
//   - the build plan a bin/detect writes at CNB_BUILD_PLAN_PATH
//     ([BuildPlan], [DecodeBuildPlan]);
//   - the platform's plan.toml written after detect ([Plan], [ReadPlan]);
//   - the buildpack plan a bin/build reads at CNB_BP_PLAN_PATH
//     ([BuildpackPlan], [ReadBuildpackPlan]).
//
// Older API versions are translated while decoding (legacy [[stacks]]
// become [[targets]], a pre-0.11 top-level requires.version moves into
// metadata.version), so callers never branch on API versions.
//
// Errors name the file and, when the TOML decoder reports one, the line.
// Writes go to a temporary file that is renamed into place, so a reader
// never sees half a file.
package descriptor
