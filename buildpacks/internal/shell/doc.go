// Package shell turns a command line written for a POSIX shell (a Procfile
// entry, an npm start script) into the argument vector and environment to
// execute, without a shell: kiln's run images have none. It understands
// words, single and double quotes, backslash escapes, variable expansion
// ($VAR, ${VAR}, ${VAR:-default}, ${VAR-default}) with field splitting of
// unquoted expansions, leading NAME=value assignments and a leading exec.
// Anything else a shell does (pipes, lists, redirections, command
// substitution, globs, brace expansion, subshells) is reported as a
// *NeedsShellError, so the caller can fall back to a real shell when there
// is one.
//
// Parsing and expansion are mvdan.cc/sh/v3's (POSIX mode); this package
// decides what may run without a shell.
package shell
