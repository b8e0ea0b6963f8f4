// Package signindex signs and verifies a multi-platform image index the
// way `cosign sign --recursive` stores it: a signature of each image's
// digest and one of the index's, each at its own sha256-<hex>.sig tag in
// the index's repository (package sign's layout), the index's last.
// Verify checks the index's signature and provenance, then every image as
// sign.Verify does. An index is read by digest (so its list of images is
// the one the index signature covers), bounded to 1000 entries, and a
// nested index is refused.
package signindex
