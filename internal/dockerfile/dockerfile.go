package dockerfile

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Kind is which of an extension's Dockerfiles a file is.
type Kind string

// The Dockerfiles an image extension may generate.
const (
	Run   Kind = "run"
	Build Kind = "build"
)

// File is the file's name: run.Dockerfile or build.Dockerfile.
func (k Kind) File() string { return string(k) + ".Dockerfile" }

// MaxSize bounds a Dockerfile Parse reads: far more than a real one.
const MaxSize = 1 << 20

// baseImageArg is the build arg the lifecycle sets to the image being
// extended (image_extension.md, Phase: Extension).
const baseImageArg = "base_image"

// Instruction is one instruction a Dockerfile asks to be applied.
type Instruction struct {
	Name string // upper case: RUN, COPY, ...
	Line int
}

func (i Instruction) String() string { return fmt.Sprintf("%s (line %d)", i.Name, i.Line) }

// Info is what a Dockerfile asks for.
type Info struct {
	// From is the image FROM names, its variables expanded; empty when
	// FROM names ${base_image}, the image being extended.
	From string
	// Apply are the instructions other than ARG and FROM, in order:
	// they change the image, and kiln does not apply them.
	Apply []Instruction
}

// Parse reads a run.Dockerfile or build.Dockerfile with buildkit's
// parser and says what it asks for. It is an error (naming the line)
// when the file is larger than MaxSize, is not a Dockerfile, has no FROM
// or more than one (image_extension.md allows a single stage), has an
// instruction other than ARG before FROM, gives FROM flags (--platform),
// or names in FROM a variable without a value. ${base_image} has no
// value here: FROM may name it only on its own. A build.Dockerfile must
// declare ARG base_image and start FROM ${base_image}.
func Parse(kind Kind, data []byte) (Info, error) {
	if len(data) > MaxSize {
		return Info{}, fmt.Errorf("%s: %d bytes is more than the %d kiln reads", kind.File(), len(data), MaxSize)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", kind.File(), err)
	}
	lex := shell.NewLex(res.EscapeToken)
	args := map[string]string{} // ARGs before FROM with a value
	declared := map[string]bool{}
	var info Info
	from := 0
	for _, n := range res.AST.Children {
		name := strings.ToUpper(n.Value)
		switch {
		case name == "ARG":
			if err := declareArgs(lex, n, args, declared, from == 0); err != nil {
				return Info{}, fmt.Errorf("%s: line %d: %w", kind.File(), n.StartLine, err)
			}
		case name == "FROM":
			from++
			if from > 1 {
				return Info{}, fmt.Errorf("%s: line %d: a second FROM: an extension's Dockerfile has a single stage", kind.File(), n.StartLine)
			}
			if info.From, err = fromImage(lex, n, args); err != nil {
				return Info{}, fmt.Errorf("%s: line %d: %w", kind.File(), n.StartLine, err)
			}
		case from == 0:
			return Info{}, fmt.Errorf("%s: line %d: %s before FROM: only ARG may come first", kind.File(), n.StartLine, name)
		default:
			info.Apply = append(info.Apply, Instruction{Name: name, Line: n.StartLine})
		}
	}
	if from == 0 {
		return Info{}, fmt.Errorf("%s: no FROM instruction", kind.File())
	}
	if kind == Build && (info.From != "" || !declared[baseImageArg]) {
		return Info{}, fmt.Errorf("%s: must begin with ARG base_image and FROM ${base_image}", kind.File())
	}
	return info, nil
}

// declareArgs records the names of an ARG instruction and, before the
// first FROM, the values it gives (its defaults, which FROM may use).
func declareArgs(lex *shell.Lex, n *parser.Node, args map[string]string, declared map[string]bool, meta bool) error {
	if n.Next == nil {
		return fmt.Errorf("ARG names no argument")
	}
	for a := n.Next; a != nil; a = a.Next {
		name, value, hasValue := strings.Cut(a.Value, "=")
		if name == "" {
			return fmt.Errorf("ARG %q names no argument", a.Value)
		}
		declared[name] = true
		if !meta || !hasValue {
			continue
		}
		v, err := expand(lex, value, args)
		if err != nil {
			return fmt.Errorf("ARG %s: %w", name, err)
		}
		args[name] = v
	}
	return nil
}

// fromImage is the image a FROM instruction names: "" for ${base_image}.
func fromImage(lex *shell.Lex, n *parser.Node, args map[string]string) (string, error) {
	if len(n.Flags) > 0 {
		return "", fmt.Errorf("FROM %s: kiln does not take FROM flags", strings.Join(n.Flags, " "))
	}
	if n.Next == nil {
		return "", fmt.Errorf("FROM names no image")
	}
	if rest := n.Next.Next; rest != nil && !(strings.EqualFold(rest.Value, "AS") && rest.Next != nil && rest.Next.Next == nil) {
		return "", fmt.Errorf("FROM %s: want FROM <image> [AS <name>]", n.Next.Value)
	}
	word := n.Next.Value
	if word == "${"+baseImageArg+"}" || word == "$"+baseImageArg {
		return "", nil
	}
	image, err := expand(lex, word, args)
	if err != nil {
		return "", fmt.Errorf("FROM %s: %w", word, err)
	}
	if image == "" || strings.ContainsAny(image, " \t") {
		return "", fmt.Errorf("FROM %s: %q is not an image reference", word, image)
	}
	return image, nil
}

// expand replaces the variables of word with the values in args; a
// variable without a value (base_image among them) is an error.
func expand(lex *shell.Lex, word string, args map[string]string) (string, error) {
	res, err := lex.ProcessWordWithMatches(word, argGetter(args))
	if err != nil {
		return "", err
	}
	if len(res.Unmatched) > 0 {
		var names []string
		for k := range res.Unmatched {
			names = append(names, k)
		}
		sort.Strings(names)
		return "", fmt.Errorf("variable %s has no value here (kiln expands only ARG defaults; ${%s} only on its own)", strings.Join(names, ", "), baseImageArg)
	}
	return res.Result, nil
}

// argGetter is shell.EnvGetter over a map.
type argGetter map[string]string

func (a argGetter) Get(k string) (string, bool) {
	v, ok := a[k]
	return v, ok
}

func (a argGetter) Keys() []string {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
