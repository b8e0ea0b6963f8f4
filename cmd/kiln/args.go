package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed moves a command's flags in front of its positional
// arguments, so `kiln build NAME --builder X` works as it does in pack
// (urfave/cli stops reading flags at the first positional argument).
// Everything after "--" stays where it is.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// Find the command (and subcommand) the arguments name.
	i := 1
	var cmd *cli.Command
	cmds := app.Commands
	for i < len(args) {
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(args[i]) {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd, cmds, i = next, next.Subcommands, i+1
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	out := append([]string(nil), args[:i]...)
	var positional, tail []string
	for j := i; j < len(args); j++ {
		a := args[j]
		switch {
		case a == "--":
			tail = args[j:]
			j = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			out = append(out, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && j+1 < len(args) {
				out = append(out, args[j+1])
				j++
			}
		default:
			positional = append(positional, a)
		}
	}
	out = append(out, positional...)
	return append(out, tail...)
}
