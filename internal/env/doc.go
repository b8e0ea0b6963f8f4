// Package env implements the Cloud Native Buildpacks environment rules.
//
// An Env is an ordered set of variables built from an environ list
// ("NAME=value" strings). On top of it the package applies, in the order the
// spec prescribes:
//
//   - a layer's root directories (bin, lib, include, pkgconfig), which are
//     prepended to PATH, LD_LIBRARY_PATH, LIBRARY_PATH, CPATH and
//     PKG_CONFIG_PATH at build time, and only to PATH and LD_LIBRARY_PATH at
//     launch;
//   - env directories (env/, env.build/, env.launch/, env.launch/<process>/
//     and a build-config env/): one file per variable, named
//     NAME[.suffix], where the suffix chooses override, append, prepend,
//     default or delim;
//   - the platform's <platform>/env/ directory, whose files hold user
//     variables: path-like variables are prepended, others overridden;
//   - exec.d output: a TOML table of strings written by an executable to
//     file descriptor 3, applied as overrides.
//
// Only HOME, HOSTNAME and the proxy variables pass from the lifecycle's own
// environment into a buildpack's (see PassThrough); everything else comes
// from the build image's configuration and the files above.
package env
