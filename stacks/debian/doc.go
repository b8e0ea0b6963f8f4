// Package debian builds CNB stack images (build and run base images) from
// a Recipe of Debian packages, without a Docker daemon.
//
// Build runs mmdebstrap, Debian's own bootstrap tool, to produce a root
// file system tarball from a package mirror, then rewrites that tarball
// into a single reproducible OCI layer: device nodes, apt lists and caches,
// logs and host files are dropped or emptied, the CNB user and its
// directories are added, every time is fixed and entries are sorted. The
// image config carries the CNB user, environment and base-image labels,
// plus the installed package list (see Packages).
//
// Images are cached as OCI layouts under Options.CacheDir, keyed by a hash
// of the normalised recipe, so a second Build of the same recipe returns at
// once without running mmdebstrap.
package debian
