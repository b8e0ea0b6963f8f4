// Package procfile parses Procfiles: one "type: command" line per process,
// in the format Heroku and foreman use. Blank lines and lines starting
// with '#' are ignored; process types follow the CNB rule
// [A-Za-z0-9._-]+.
package procfile
