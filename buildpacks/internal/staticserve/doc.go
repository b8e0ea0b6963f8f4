// Package staticserve is the HTTP handler of kiln's static file server,
// the web process of apps built by the static buildpack.
//
// It serves files below a root directory (never outside it, symbolic
// links included, and never dot files), index.html for directories, a 404
// page with status 404, and optionally index.html for unknown paths
// (single-page apps). Responses carry a strong ETag computed from the
// content (file times in reproducible images are all the same, so they
// cannot be used) and a Cache-Control policy: HTML is revalidated on every
// use, fingerprinted assets (app.3f9a8b7c.js) are immutable for a year,
// other files are fresh for five minutes. Text-like files are gzipped for
// clients that accept it, from a precompressed <file>.gz when there is
// one.
package staticserve
