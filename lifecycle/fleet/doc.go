// Package fleet answers a platform team's question after a base image
// update — which app images still run the old run image — and moves them
// all onto the new one.
//
// List finds the images: every tag of every repository under a registry
// prefix (the registry's catalog and tags API, paged, with bounds on how
// many repositories, tags and pages a registry may answer with), or the
// references of a list file (ReadList). Status reads each image's
// manifest and config only and classifies it: a CNB app image with its
// current run image digest, the newest digest of its run image (each
// distinct run image, with its mirrors, is resolved once for the whole
// fleet), its buildpacks and build time; or skipped, with the reason
// (no lifecycle label, an index without a linux/amd64 entry, not an
// image). Rebase rebases every outdated app image in parallel, with
// bounded concurrency, through lifecycle/rebase: no layer is read or
// moved, only a config and a manifest are written per image, and the tag
// moves only once the new manifest's blobs are all in place (and only if
// the tag still names the digest that was read). A Resigner, when set, is
// called with each new digest (of an image, or of a multi-platform app's
// image index). Outcomes are rebased, current, refused
// (an unsafe rebase without Force, with rebase's reason), failed and
// skipped; running Rebase twice does nothing the second time.
//
// The package is a library: `kiln fleet` is one caller, and kiln serve
// can call Status and Rebase the same way.
package fleet
