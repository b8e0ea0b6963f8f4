// Package detect implements the detect phase of the Cloud Native Buildpacks
// lifecycle (Buildpack API 0.12 §Phase #1, Platform API 0.15 detector):
// it chooses the group of buildpacks that will build an app.
//
// The phase has three parts:
//
//   - Expand turns an order (order.toml, with composite buildpacks nested
//     in it) into the flat candidate groups to try, in priority order;
//   - an Executor runs one buildpack's bin/detect; ProcessExecutor is the
//     real one, running it as a child process with the spec's environment;
//   - Run tries the candidate groups in turn, runs each buildpack at most
//     once, applies target matching, optional buildpacks and build plan
//     resolution, and returns the chosen group and the resolved plan
//     (group.toml and plan.toml).
//
// Image extensions (order.toml's [[order-extensions]]) take part too:
// their order is tried in front of every group, each extension optional;
// a group still needs a buildpack to pass, and the extensions that pass
// and provide what a later buildpack requires become [[group-extensions]].
//
// When no group passes, Run returns a *NoGroupError listing every
// buildpack's result and output; its code is 20 (no group passed) or 21
// (and a buildpack errored), the platform's detector exit codes.
package detect
