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
//
// Errors say what kind of failure they are. IsNotFound is true only when
// the image does not exist (ErrNotFound from the store, a layout or an
// archive; MANIFEST_UNKNOWN, NAME_UNKNOWN or a 404 on the manifest from a
// registry), never for rejected credentials, network errors, timeouts or
// server errors, so that callers do not mistake those for a first build.
// A registry's rejection of the credentials comes back as an *AuthError
// naming the registry, the repository and where credentials come from.
//
// Registry time is bounded. Every request goes through one shared
// connection pool and a watchdog: a request that makes no progress for the
// timeout (WithTimeout, else $KILN_REGISTRY_TIMEOUT, else DefaultTimeout)
// while it waits on the network (connecting, sending, awaiting or reading
// the answer; the caller's own pauses do not count) fails with a
// *StallError naming the server and the request. Failed requests (5xx,
// 429, a reset connection) are retried a bounded number of times; a
// stalled one is not, as it already took the whole timeout.
package imageio
