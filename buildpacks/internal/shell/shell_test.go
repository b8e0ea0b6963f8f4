package shell

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testEnv = map[string]string{"PORT": "5000", "EMPTY": "", "OPTS": "--a  --b", "HOME": "/home/cnb", "SPACE": " x "}

func lookup(k string) (string, bool) {
	v, ok := testEnv[k]
	return v, ok
}

func TestParse(t *testing.T) {
	tests := []struct {
		line    string
		want    Command
		wantErr string
		shell   bool // wantErr is a NeedsShellError
	}{
		{line: "python3 -m http.server ${PORT:-8080} --directory site", want: Command{Argv: []string{"python3", "-m", "http.server", "5000", "--directory", "site"}}},
		{line: "server --port ${UNSET:-8080}", want: Command{Argv: []string{"server", "--port", "8080"}}},
		{line: "server --port ${EMPTY:-8080} ${EMPTY-x}", want: Command{Argv: []string{"server", "--port", "8080"}}},
		{line: "server ${UNSET-d$PORT}", want: Command{Argv: []string{"server", "d5000"}}},
		{line: "exec ./bin/web $OPTS", want: Command{Argv: []string{"./bin/web", "--a", "--b"}}},
		{line: `./web "$OPTS" '$PORT' \$HOME`, want: Command{Argv: []string{"./web", "--a  --b", "$PORT", "$HOME"}}},
		{line: `echo "a \"b\" \\ \$c" ""`, want: Command{Argv: []string{"echo", `a "b" \ $c`, ""}}},
		{line: "NODE_ENV=production DEBUG= node app.js $EMPTY", want: Command{Assign: []string{"NODE_ENV=production", "DEBUG="}, Argv: []string{"node", "app.js"}}},
		{line: "A=$OPTS x B=c", want: Command{Assign: []string{"A=--a  --b"}, Argv: []string{"x", "B=c"}}},
		{line: "x a$SPACE!b", want: Command{Argv: []string{"x", "a", "x", "!b"}}},
		{line: "gunicorn app:app --bind 0.0.0.0:$PORT # the web server", want: Command{Argv: []string{"gunicorn", "app:app", "--bind", "0.0.0.0:5000"}}},
		{line: "cost $ 5", want: Command{Argv: []string{"cost", "$", "5"}}},
		{line: `echo "*" '[x]' a\*b x=~`, want: Command{Argv: []string{"echo", "*", "[x]", "a*b", "x=~"}}},
		{line: "a \\\nb", want: Command{Argv: []string{"a", "b"}}},
		{line: `echo \\`, want: Command{Argv: []string{"echo", `\`}}},
		{line: "a\nb", wantErr: `";"`, shell: true},
		{line: "a &", wantErr: `"&"`, shell: true},
		{line: "a {b,c}", wantErr: "brace expansion", shell: true},
		{line: "if x; then y; fi", wantErr: "compound command", shell: true},
		{line: "a $((1+2))", wantErr: "arithmetic", shell: true},
		{line: "a ${#X} ", wantErr: "${#X}", shell: true},
		{line: "a $@", wantErr: "$@", shell: true},
		{line: "npm run migrate && node a.js", wantErr: `"&&"`, shell: true},
		{line: "a | b", wantErr: `"|"`, shell: true},
		{line: "a; b", wantErr: `";"`, shell: true},
		{line: "a > log", wantErr: "redirection", shell: true},
		{line: "echo $(date)", wantErr: "command substitution", shell: true},
		{line: "echo `date`", wantErr: "command substitution", shell: true},
		{line: "ls *.js", wantErr: "file name pattern", shell: true},
		{line: "cd ~", wantErr: "~ expansion", shell: true},
		{line: "echo $1", wantErr: "$1", shell: true},
		{line: "echo ${PORT:=1}", wantErr: "${PORT:=1}", shell: true},
		{line: "echo ${UNSET:-$(date)}", wantErr: "command substitution", shell: true},
		{line: "echo 'open", wantErr: "unterminated single quote"},
		{line: `echo "open`, wantErr: "unterminated double quote"},
		{line: "echo ${PORT", wantErr: "unterminated ${"},
		{line: "echo \\", wantErr: "trailing backslash"},
		{line: "A=1 $EMPTY", wantErr: "no command"},
		{line: "   ", wantErr: "no command"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.line, lookup)
		if tt.wantErr != "" {
			var ns *NeedsShellError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.As(err, &ns) != tt.shell {
				t.Errorf("Parse(%q) error %v, want %q (needs shell: %v)", tt.line, err, tt.wantErr, tt.shell)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tt.line, diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"python3 -m http.server ${PORT:-8080}", `a "b $OPTS" 'c'`, "A=b c", "x ${UNSET-$PORT}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := Parse(line, lookup)
		if err != nil {
			return
		}
		if len(c.Argv) == 0 {
			t.Fatalf("Parse(%q) returned no command", line)
		}
		for _, a := range c.Assign {
			if !strings.Contains(a, "=") {
				t.Fatalf("assignment %q without =", a)
			}
		}
	})
}

func TestPlain(t *testing.T) {
	tests := []struct {
		line string
		want []string
		ok   bool
	}{
		{"node server.js", []string{"node", "server.js"}, true},
		{"  ./bin/web  -v ", []string{"./bin/web", "-v"}, true},
		{"node server.js --port $PORT", nil, false},
		{"A=b node x", nil, false},
		{"a && b", nil, false},
		{"", nil, false},
	}
	for _, tt := range tests {
		got, ok := Plain(tt.line)
		if ok != tt.ok || !cmp.Equal(got, tt.want) {
			t.Errorf("Plain(%q) = %q, %v", tt.line, got, ok)
		}
	}
}
