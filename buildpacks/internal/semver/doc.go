// Package semver parses semantic versions and the version ranges npm
// accepts in package.json (engines.node) and .nvmrc files: comparators
// (<, <=, >, >=, =), X-ranges (1.x, 1.2.*, *), tilde and caret ranges,
// hyphen ranges and alternatives joined by ||, with npm's rule that a
// prerelease only matches a range that names a prerelease of the same
// major.minor.patch.
//
// It is a thin adapter over github.com/Masterminds/semver/v3; Range
// documents the few places where npm's rules differ from that library's.
package semver
