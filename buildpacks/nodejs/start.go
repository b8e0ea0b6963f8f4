package main

import (
	"strings"

	"github.com/kiln-build/kiln/buildpacks/internal/nodepkg"
)

// shellChars make a start script need a shell.
const shellChars = "|&;<>()$`\\\"'*?[]#~=%{}!\n"

// startCommand turns the app's start into a process command: a start
// script made of plain words runs directly (its first word found on PATH,
// which holds node and node_modules/.bin), any other script through sh -c,
// and a file through node.
func startCommand(s nodepkg.Start) []string {
	if s.Script == "" {
		return []string{"node", s.File}
	}
	if strings.ContainsAny(s.Script, shellChars) {
		return []string{"sh", "-c", s.Script}
	}
	return strings.Fields(s.Script)
}
