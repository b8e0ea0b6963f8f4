// Package nodepkg reads the parts of a Node.js package.json that kiln's
// buildpacks act on (scripts, main, engines, dependencies) and decides
// what an app's start command is, reporting syntax errors with their line
// and column.
package nodepkg
