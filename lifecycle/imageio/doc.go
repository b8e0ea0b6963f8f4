// Package imageio reads and writes OCI images wherever kiln keeps them: a
// registry (go-containerregistry remote, Docker config auth), an OCI image
// layout directory ("oci:DIR"), a docker-archive tarball
// ("docker-archive:FILE") or kiln's local store (an OCI layout under the
// user's data dir, addressed by image name).
//
// Every write is all-or-nothing from a reader's point of view: blobs are
// content addressed and harmless on their own, and the step that makes an
// image visible (a registry manifest, a layout's index.json, a renamed
// tarball, the store's index) comes last.
package imageio
