// Package gitref checks the git object names and ref names that reach
// kiln serve from outside (hook input, webhook payloads): loosely, as data
// that must never pass for something else; git itself checks them fully.
package gitref
