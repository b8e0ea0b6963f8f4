// Package fetch downloads toolchains and package indexes for kiln's
// buildpacks. Every request goes through net/http with the system
// certificate pool, which honours SSL_CERT_FILE and SSL_CERT_DIR: inside
// kiln's build container these point at the host's CA bundle, so downloads
// work behind TLS-intercepting proxies. Certificates are never pinned and
// verification is never turned off.
//
// Downloads are verified against a digest (sha1, sha256 or sha512, hex or
// in npm's Subresource Integrity form) while they stream to disk, and are
// retried on network errors and 5xx answers. With a cache directory
// (BP_DOWNLOAD_CACHE), verified files are kept by URL and small documents
// are revalidated with ETag/Last-Modified, so repeated builds and tests
// need no network for things they already have.
package fetch
