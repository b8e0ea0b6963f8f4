// Package osrelease parses os-release(5) files, which name the
// distribution of a root file system (ID, VERSION_ID, VERSION_CODENAME).
// Stack images turn them into the io.buildpacks.base.distro.* labels.
package osrelease
