package shell

import (
	"errors"
	"fmt"
	"strings"
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
func Parse(line string, lookup func(string) (string, bool)) (Command, error) {
	p := &parser{line: line, lookup: lookup}
	words, err := p.words()
	if err != nil {
		return Command{}, err
	}
	var c Command
	i := 0
	for ; i < len(words) && words[i].assign; i++ {
		c.Assign = append(c.Assign, words[i].fields[0])
	}
	rest := words[i:]
	if len(rest) > 0 && rest[0].literal == "exec" {
		rest = rest[1:]
	}
	for _, w := range rest {
		c.Argv = append(c.Argv, w.fields...)
	}
	if len(c.Argv) == 0 {
		return Command{}, fmt.Errorf("%q has no command to run", line)
	}
	return c, nil
}

// word is one shell word after expansion: usually one field, none for an
// empty unquoted expansion, several after field splitting.
type word struct {
	fields  []string
	literal string // the unexpanded text when it had no quotes or $
	assign  bool
}

type parser struct {
	line   string
	pos    int
	lookup func(string) (string, bool)
}

func (p *parser) needs(feature string) error {
	return &NeedsShellError{Line: p.line, Feature: feature}
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameChar(c byte, first bool) bool {
	return c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || !first && c >= '0' && c <= '9'
}

// words splits the whole line into expanded words.
func (p *parser) words() ([]word, error) {
	var out []word
	seenCommand := false
	for {
		for p.pos < len(p.line) && isBlank(p.line[p.pos]) {
			p.pos++
		}
		if p.pos >= len(p.line) {
			return out, nil
		}
		if p.line[p.pos] == '#' {
			return out, nil // a comment runs to the end of the line
		}
		w, err := p.word(!seenCommand)
		if err != nil {
			return nil, err
		}
		if !w.assign {
			seenCommand = true
		}
		out = append(out, w)
	}
}

// field builder: text of the current field, whether the word has begun
// (quotes make empty words), and the finished fields.
type builder struct {
	fields  []string
	cur     strings.Builder
	started bool
}

func (b *builder) add(s string) { b.cur.WriteString(s); b.started = true }

// split adds an unquoted expansion, splitting it at blanks.
func (b *builder) split(s string) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
	if len(parts) == 0 {
		return
	}
	if s != "" && isBlank(s[0]) && b.started {
		b.end()
	}
	for i, part := range parts {
		if i > 0 {
			b.end()
		}
		b.add(part)
	}
	if isBlank(s[len(s)-1]) {
		b.end()
	}
}

func (b *builder) end() {
	if b.started {
		b.fields = append(b.fields, b.cur.String())
	}
	b.cur.Reset()
	b.started = false
}

func (p *parser) word(maybeAssign bool) (word, error) {
	start := p.pos
	var b builder
	plain := true
	assign := false
	if maybeAssign {
		// NAME=... at the start of a word is an assignment
		i := p.pos
		for i < len(p.line) && isNameChar(p.line[i], i == p.pos) {
			i++
		}
		if i > p.pos && i < len(p.line) && p.line[i] == '=' {
			assign = true
			b.add(p.line[p.pos : i+1])
			p.pos = i + 1
		}
	}
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		switch {
		case isBlank(c):
			return p.finish(&b, start, plain, assign), nil
		case c == '\'':
			plain = false
			end := strings.IndexByte(p.line[p.pos+1:], '\'')
			if end < 0 {
				return word{}, fmt.Errorf("%q: unterminated single quote", p.line)
			}
			b.add(p.line[p.pos+1 : p.pos+1+end])
			p.pos += end + 2
		case c == '"':
			plain = false
			if err := p.double(&b); err != nil {
				return word{}, err
			}
		case c == '\\':
			plain = false
			if p.pos+1 >= len(p.line) {
				return word{}, fmt.Errorf("%q: trailing backslash", p.line)
			}
			if p.line[p.pos+1] != '\n' {
				b.add(p.line[p.pos+1 : p.pos+2])
			}
			p.pos += 2
		case c == '$':
			plain = false
			v, err := p.dollar()
			if err != nil {
				return word{}, err
			}
			if assign {
				b.add(v) // no field splitting in assignments
			} else {
				b.split(v)
			}
		case c == '`':
			return word{}, p.needs("command substitution (`...`)")
		case c == '|' || c == '&' || c == ';':
			return word{}, p.needs(fmt.Sprintf("%q", operator(p.line[p.pos:])))
		case c == '<' || c == '>':
			return word{}, p.needs("a redirection")
		case c == '(' || c == ')':
			return word{}, p.needs("a subshell")
		case c == '*' || c == '?' || c == '[':
			return word{}, p.needs("a file name pattern")
		case c == '~' && p.pos == start:
			return word{}, p.needs("~ expansion")
		default:
			b.add(p.line[p.pos : p.pos+1])
			p.pos++
		}
	}
	return p.finish(&b, start, plain, assign), nil
}

func operator(s string) string {
	if len(s) > 1 && (s[:2] == "&&" || s[:2] == "||") {
		return s[:2]
	}
	return s[:1]
}

func (p *parser) finish(b *builder, start int, plain, assign bool) word {
	if assign {
		// an assignment is always one field, even when empty
		b.started = true
	}
	b.end()
	w := word{fields: b.fields, assign: assign}
	if plain {
		w.literal = p.line[start:p.pos]
	}
	return w
}

// double reads a double-quoted string starting at p.pos.
func (p *parser) double(b *builder) error {
	p.pos++
	b.started = true
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		switch c {
		case '"':
			p.pos++
			return nil
		case '\\':
			if p.pos+1 < len(p.line) && strings.IndexByte("$`\"\\\n", p.line[p.pos+1]) >= 0 {
				if p.line[p.pos+1] != '\n' {
					b.add(p.line[p.pos+1 : p.pos+2])
				}
				p.pos += 2
				continue
			}
			b.add("\\")
			p.pos++
		case '$':
			v, err := p.dollar()
			if err != nil {
				return err
			}
			b.add(v)
		case '`':
			return p.needs("command substitution (`...`)")
		default:
			b.add(p.line[p.pos : p.pos+1])
			p.pos++
		}
	}
	return fmt.Errorf("%q: unterminated double quote", p.line)
}

// dollar expands the $ expression at p.pos.
func (p *parser) dollar() (string, error) {
	p.pos++ // the $
	if p.pos >= len(p.line) {
		return "$", nil
	}
	c := p.line[p.pos]
	switch {
	case c == '(':
		return "", p.needs("command substitution ($(...))")
	case c == '{':
		end := strings.IndexByte(p.line[p.pos:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: unterminated ${", p.line)
		}
		expr := p.line[p.pos+1 : p.pos+end]
		p.pos += end + 1
		return p.braced(expr)
	case isNameChar(c, true):
		i := p.pos
		for i < len(p.line) && isNameChar(p.line[i], false) {
			i++
		}
		name := p.line[p.pos:i]
		p.pos = i
		v, _ := p.lookup(name)
		return v, nil
	case c >= '0' && c <= '9' || c == '@' || c == '*' || c == '#' || c == '?' || c == '$' || c == '!' || c == '-':
		return "", p.needs(fmt.Sprintf("the special parameter $%c", c))
	}
	return "$", nil // a lone $ is literal
}

// braced expands NAME, NAME:-word, NAME-word, NAME:=word is refused.
func (p *parser) braced(expr string) (string, error) {
	i := 0
	for i < len(expr) && isNameChar(expr[i], i == 0) {
		i++
	}
	name, rest := expr[:i], expr[i:]
	if name == "" {
		return "", p.needs(fmt.Sprintf("${%s}", expr))
	}
	v, set := p.lookup(name)
	switch {
	case rest == "":
		return v, nil
	case strings.HasPrefix(rest, ":-"):
		if v == "" {
			return p.expandDefault(rest[2:])
		}
		return v, nil
	case strings.HasPrefix(rest, "-"):
		if !set {
			return p.expandDefault(rest[1:])
		}
		return v, nil
	}
	return "", p.needs(fmt.Sprintf("${%s}", expr))
}

// expandDefault expands the word of ${NAME:-word}: $VAR references and
// literal text.
func (p *parser) expandDefault(s string) (string, error) {
	sub := &parser{line: s, lookup: p.lookup}
	var b strings.Builder
	for sub.pos < len(s) {
		if s[sub.pos] == '$' {
			v, err := sub.dollar()
			var ns *NeedsShellError
			if errors.As(err, &ns) {
				return "", &NeedsShellError{Line: p.line, Feature: ns.Feature}
			}
			if err != nil {
				return "", fmt.Errorf("%q: %w", p.line, err)
			}
			b.WriteString(v)
			continue
		}
		b.WriteByte(s[sub.pos])
		sub.pos++
	}
	return b.String(), nil
}

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
