package shell

import (
	"errors"
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/pattern"
	"mvdan.cc/sh/v3/syntax"
)

// Command is a parsed command line.
type Command struct {
	// Assign are the NAME=value assignments before the command, expanded.
	Assign []string
	// Argv is the command and its arguments, expanded.
	Argv []string
}

// NeedsShellError reports shell syntax this package does not run.
type NeedsShellError struct {
	Line    string
	Feature string
}

func (e *NeedsShellError) Error() string {
	return fmt.Sprintf("%q needs a shell: it uses %s", e.Line, e.Feature)
}

// Parse parses line, expanding variables with lookup.
//
// Parsing and expansion are mvdan.cc/sh's, in its POSIX mode since the
// fallback is /bin/sh. What this package adds is the line between what
// runs without a shell and what does not: only simple commands made of
// literal text, quotes and $NAME, ${NAME}, ${NAME:-word}, ${NAME-word}
// pass; everything else is a *NeedsShellError, so that it runs in a real
// shell with its side effects (globs, redirections, command substitution)
// rather than being half-run here.
func Parse(line string, lookup func(string) (string, bool)) (Command, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		return Command{}, parseError(line, err)
	}
	call, err := simpleCommand(line, f)
	if err != nil {
		return Command{}, err
	}
	cfg := &expand.Config{Env: environ(lookup)}
	var c Command
	for _, a := range call.Assigns {
		v, err := expand.Literal(cfg, a.Value) // no field splitting in assignments
		if err != nil {
			return Command{}, fmt.Errorf("%q: %w", line, err)
		}
		c.Assign = append(c.Assign, a.Name.Value+"="+v)
	}
	args := call.Args
	if len(args) > 0 && args[0].Lit() == "exec" && len(args[0].Parts) == 1 {
		args = args[1:]
	}
	if c.Argv, err = expand.Fields(cfg, args...); err != nil {
		return Command{}, fmt.Errorf("%q: %w", line, err)
	}
	if len(c.Argv) == 0 {
		return Command{}, fmt.Errorf("%q has no command to run", line)
	}
	return c, nil
}

// parseError words the parser's errors for someone who wrote a Procfile.
func parseError(line string, err error) error {
	var pe syntax.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%q: %w", line, err)
	}
	switch {
	case strings.Contains(pe.Text, "closing quote `'`"):
		return fmt.Errorf("%q: unterminated single quote", line)
	case strings.Contains(pe.Text, "closing quote `\"`"):
		return fmt.Errorf("%q: unterminated double quote", line)
	case strings.Contains(pe.Text, "${"):
		return fmt.Errorf("%q: unterminated ${", line)
	}
	// Anything else that does not parse is syntax a shell may know better.
	return &NeedsShellError{Line: line, Feature: pe.Text}
}

// simpleCommand returns f's one simple command, or a *NeedsShellError
// naming the first thing in f that is more.
func simpleCommand(line string, f *syntax.File) (*syntax.CallExpr, error) {
	needs := func(feature string) error { return &NeedsShellError{Line: line, Feature: feature} }
	switch {
	case len(f.Stmts) == 0:
		return nil, fmt.Errorf("%q has no command to run", line)
	case len(f.Stmts) > 1 || f.Stmts[0].Semicolon.IsValid() && !f.Stmts[0].Background:
		return nil, needs(`";"`)
	}
	st := f.Stmts[0]
	switch {
	case st.Background:
		return nil, needs(`"&"`)
	case st.Negated:
		return nil, needs(`"!"`)
	case len(st.Redirs) > 0:
		return nil, needs("a redirection")
	}
	var err error
	syntax.Walk(st.Cmd, func(n syntax.Node) bool {
		if err == nil {
			err = unsupported(n)
		}
		return err == nil
	})
	if err != nil {
		return nil, needs(err.Error())
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok {
		return nil, needs(fmt.Sprintf("a compound command (%s)", nodeText(st.Cmd)))
	}
	if n := len(call.Args); n > 0 && trailingBackslash(call.Args[n-1]) {
		// The parser keeps it as a literal \; sh would wait for more.
		return nil, fmt.Errorf("%q: trailing backslash", line)
	}
	for _, w := range call.Args {
		if p, ok := w.Parts[0].(*syntax.Lit); ok && strings.HasPrefix(p.Value, "~") {
			return nil, needs("~ expansion")
		}
	}
	return call, nil
}

func trailingBackslash(w *syntax.Word) bool {
	lit, ok := w.Parts[len(w.Parts)-1].(*syntax.Lit)
	if !ok {
		return false
	}
	v := lit.Value
	n := len(v) - len(strings.TrimRight(v, `\`))
	return n%2 == 1
}

// unsupported returns why n cannot run without a shell, as an error whose
// text names the feature, or nil.
func unsupported(n syntax.Node) error {
	switch n := n.(type) {
	case nil, *syntax.CallExpr, *syntax.Lit, *syntax.DblQuoted, *syntax.SglQuoted:
		return nil
	case *syntax.Word:
		// Only unquoted text, the word's own Lit parts, can be a pattern.
		for _, p := range n.Parts {
			if lit, ok := p.(*syntax.Lit); ok && pattern.HasMeta(lit.Value, 0) {
				return errors.New("a file name pattern")
			}
		}
		// expand.Fields expands braces as bash does; sh does not, so
		// let sh have them.
		if w := *n; syntax.SplitBraces(&w) {
			return errors.New("brace expansion")
		}
		return nil
	case *syntax.Assign:
		if n.Append || n.Naked || n.Index != nil || n.Array != nil {
			return fmt.Errorf("the assignment %s", nodeText(n))
		}
		return nil
	case *syntax.ParamExp:
		switch {
		case !syntax.ValidName(n.Param.Value):
			return fmt.Errorf("the special parameter $%s", n.Param.Value)
		case n.Excl || n.Length || n.Index != nil || n.Slice != nil || n.Repl != nil || n.Names != 0:
			return errors.New(nodeText(n))
		case n.Exp != nil && n.Exp.Op != syntax.DefaultUnset && n.Exp.Op != syntax.DefaultUnsetOrNull:
			return errors.New(nodeText(n))
		}
		return nil
	case *syntax.BinaryCmd:
		return fmt.Errorf("%q", n.Op.String())
	case *syntax.CmdSubst:
		if n.Backquotes {
			return errors.New("command substitution (`...`)")
		}
		return errors.New("command substitution ($(...))")
	case *syntax.Subshell, *syntax.Block:
		return errors.New("a subshell")
	case *syntax.ArithmExp:
		return errors.New("arithmetic expansion")
	}
	if _, ok := n.(syntax.Command); ok {
		return fmt.Errorf("a compound command (%s)", nodeText(n))
	}
	return errors.New(nodeText(n))
}

func nodeText(n syntax.Node) string {
	var b strings.Builder
	if err := syntax.NewPrinter(syntax.Minify(true)).Print(&b, n); err != nil {
		return fmt.Sprintf("%T", n)
	}
	return b.String()
}

// environ adapts a lookup function to expand.Environ. IFS is always the
// default (blanks): a command line's meaning does not depend on it.
type environ func(string) (string, bool)

func (e environ) Get(name string) expand.Variable {
	if name == "IFS" {
		return expand.Variable{}
	}
	v, ok := e(name)
	if !ok {
		return expand.Variable{}
	}
	return expand.Variable{Set: true, Kind: expand.String, Str: v}
}

func (e environ) Each(func(string, expand.Variable) bool) {}

// specialChars make a command line need more than splitting at blanks.
const specialChars = "|&;<>()$`\\\"'*?[]#~=%{}!\n"

// Plain returns the words of line when it has no quotes, variables or
// other shell syntax: such a line runs directly, as its words.
func Plain(line string) ([]string, bool) {
	if strings.ContainsAny(line, specialChars) {
		return nil, false
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, false
	}
	return f, true
}
