// Package serve runs one kiln serve process: it opens and migrates the
// database, reads (or makes) the admin token, starts the service's
// workers and reaper, and serves HTTP — the API and web page (package
// httpapi), git pushes at /git/ and webhooks at /hooks/ (package
// gitserve) — until its context ends, then shuts down gracefully.
package serve
