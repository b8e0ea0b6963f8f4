// Command kiln-exec runs a shell-style command line, such as a Procfile
// entry, in an image that has no shell:
//
//	kiln-exec 'python3 -m http.server ${PORT:-8080}' [args...]
//
// It expands variables, splits words, applies leading NAME=value
// assignments and executes the command (found on PATH) in its own place,
// with any further arguments appended. Lines that need a real shell
// (pipes, &&, redirections, ...) run with /bin/sh -c when the image has
// one, and fail with an explanation when it does not.
package main
