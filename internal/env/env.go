package env

import (
	"os"
	"strings"
)

// Env is an ordered environment: variables keep the position at which they
// were first set, so Environ is deterministic. The zero value is empty and
// ready to use.
type Env struct {
	names []string
	vals  map[string]string
}

// New builds an Env from an environ list ("NAME=value"). An entry without
// "=" sets the variable to the empty string; entries whose name is empty or
// contains NUL are dropped. A later entry for the same name replaces the earlier value but
// keeps its position, as the shell does.
func New(environ []string) *Env {
	e := &Env{}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !ValidName(name) {
			continue
		}
		e.Set(name, value)
	}
	return e
}

// Clone returns an independent copy of e.
func (e *Env) Clone() *Env {
	c := &Env{names: append([]string(nil), e.names...), vals: make(map[string]string, len(e.vals))}
	for k, v := range e.vals {
		c.vals[k] = v
	}
	return c
}

// Lookup returns the value of name and whether it is set.
func (e *Env) Lookup(name string) (string, bool) {
	v, ok := e.vals[name]
	return v, ok
}

// Get returns the value of name, or "" when it is unset.
func (e *Env) Get(name string) string {
	return e.vals[name]
}

// Set sets name to value.
func (e *Env) Set(name, value string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[name]; !ok {
		e.names = append(e.names, name)
	}
	e.vals[name] = value
}

// Unset removes name.
func (e *Env) Unset(name string) {
	if _, ok := e.vals[name]; !ok {
		return
	}
	delete(e.vals, name)
	for i, n := range e.names {
		if n == name {
			e.names = append(e.names[:i:i], e.names[i+1:]...)
			break
		}
	}
}

// Names returns the variable names in order.
func (e *Env) Names() []string {
	return append([]string(nil), e.names...)
}

// Len returns the number of variables.
func (e *Env) Len() int { return len(e.names) }

// Environ returns the variables as "NAME=value" strings, in order, ready for
// exec.Cmd.Env.
func (e *Env) Environ() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.vals[n])
	}
	return out
}

// Modify applies one modification rule to name. delim separates the new
// value from an existing non-empty value for Append and Prepend; it may be
// empty, in which case the two are concatenated as they are. An existing
// empty value counts as unset, so no stray separator is produced.
func (e *Env) Modify(name string, a Action, value, delim string) {
	cur := e.vals[name]
	switch a {
	case Override:
		e.Set(name, value)
	case Default:
		if cur == "" {
			e.Set(name, value)
		}
	case Append:
		if cur == "" {
			e.Set(name, value)
		} else {
			e.Set(name, cur+delim+value)
		}
	case Prepend:
		if cur == "" {
			e.Set(name, value)
		} else {
			e.Set(name, value+delim+cur)
		}
	case PrependPath:
		if IsPathVar(name) {
			e.Modify(name, Prepend, value, string(os.PathListSeparator))
		} else {
			e.Set(name, value)
		}
	}
}

// ValidName reports whether name can be used as an environment variable
// name: non-empty, without "=" and without NUL.
func ValidName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "=\x00")
}

// pathVars are the POSIX path variables that layer root directories feed.
var pathVars = map[string]bool{
	"PATH":            true,
	"LD_LIBRARY_PATH": true,
	"LIBRARY_PATH":    true,
	"CPATH":           true,
	"PKG_CONFIG_PATH": true,
}

// IsPathVar reports whether name is one of the POSIX path variables (PATH,
// LD_LIBRARY_PATH, LIBRARY_PATH, CPATH, PKG_CONFIG_PATH).
func IsPathVar(name string) bool { return pathVars[name] }

// passThrough are the variables that may reach a buildpack from the
// lifecycle's own environment.
var passThrough = []string{
	"HOME", "HOSTNAME",
	"HTTP_PROXY", "http_proxy",
	"HTTPS_PROXY", "https_proxy",
	"NO_PROXY", "no_proxy",
}

// PassThrough filters the lifecycle's own environment down to the variables
// that the detect and build phases hand on to buildpacks: HOME, HOSTNAME and
// the HTTP(S)/NO proxy variables in either case. The launcher does not use
// it: an app process inherits its whole environment.
func PassThrough(environ []string) []string {
	src := New(environ)
	var out []string
	for _, n := range passThrough {
		if v, ok := src.Lookup(n); ok {
			out = append(out, n+"="+v)
		}
	}
	return out
}
