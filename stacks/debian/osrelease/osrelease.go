package osrelease

import (
	"fmt"
	"regexp"
	"strings"
)

var keyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Parse reads os-release content: one KEY=value assignment a line, values
// optionally in single or double quotes (with \ escapes inside double
// quotes), blank lines and # comments ignored.
func Parse(data []byte) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok || !keyPattern.MatchString(key) {
			return nil, fmt.Errorf("os-release line %d: want KEY=value, got %q", i+1, line)
		}
		v, err := unquote(raw)
		if err != nil {
			return nil, fmt.Errorf("os-release line %d: %s: %w", i+1, key, err)
		}
		out[key] = v
	}
	return out, nil
}

func unquote(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	switch q := s[0]; q {
	case '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' || strings.Contains(s[1:len(s)-1], "'") {
			return "", fmt.Errorf("unbalanced single quotes in %s", s)
		}
		return s[1 : len(s)-1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s):
				i++
				b.WriteByte(s[i])
			case c == '"':
				if i != len(s)-1 {
					return "", fmt.Errorf("text after closing quote in %s", s)
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("unbalanced double quotes in %s", s)
	}
	if strings.ContainsAny(s, " \t\"'`$\\") {
		return "", fmt.Errorf("unquoted value %s holds shell special characters", s)
	}
	return s, nil
}
