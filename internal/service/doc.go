// Package service is kiln serve's core: apps and their tokens, builds
// queued on a database (SQLite embedded, or PostgreSQL shared by many
// kiln serve processes) through River, workers that run them in the
// hardened sandbox and publish their images, their logs, and the JSON API
// and web page over them. contract.go is what git pushes and webhooks
// (package gitserve) use of it.
package service
