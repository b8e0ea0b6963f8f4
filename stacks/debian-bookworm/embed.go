package debianbookworm

import (
	_ "embed"

	"github.com/kiln-build/kiln/stacks/stack"
)

// Name is the stack's name; it names the images (kiln/debian-bookworm-run).
const Name = "debian-bookworm"

// StackTOML is the content of stacks/debian-bookworm/stack.toml.
//
//go:embed stack.toml
var StackTOML []byte

// Stack returns the decoded stack. Its Path names the file in kiln's
// source tree, for error messages.
func Stack() (*stack.Stack, error) {
	return stack.Decode(Name, "stacks/"+Name+"/"+stack.FileName, StackTOML)
}
