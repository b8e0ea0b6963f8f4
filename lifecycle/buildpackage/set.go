package buildpackage

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

// InputError marks an error in what the user gave (a configuration file,
// a buildpack, a URI) rather than in kiln or its surroundings. Its message
// is the wrapped error's.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// inputErrorf returns an *InputError with a formatted message.
func inputErrorf(format string, a ...any) error {
	return &InputError{Err: fmt.Errorf(format, a...)}
}

// WrapInput prefixes err's message with the formatted text, keeping it
// an *InputError when it was one.
func WrapInput(err error, format string, a ...any) error {
	wrapped := fmt.Errorf(format+"%w", append(a, err)...)
	if IsInputError(err) {
		return &InputError{Err: wrapped}
	}
	return wrapped
}

// IsInputError reports whether err is, or wraps, an *InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}

// Set holds buildpacks by id and version. The first buildpack added under
// an id and version is kept.
type Set struct {
	byID map[string]map[string]Buildpack
}

// Add puts b into the set. It reports false, keeping the buildpack
// already there, when the set holds b's id and version.
func (s *Set) Add(b Buildpack) bool {
	if s.byID == nil {
		s.byID = map[string]map[string]Buildpack{}
	}
	vs := s.byID[b.ID()]
	if vs == nil {
		vs = map[string]Buildpack{}
		s.byID[b.ID()] = vs
	}
	if _, ok := vs[b.Version()]; ok {
		return false
	}
	vs[b.Version()] = b
	return true
}

// Lookup returns the buildpack id@version. An empty version selects the
// only version of id in the set; several versions are an error.
func (s *Set) Lookup(id, version string) (Buildpack, error) {
	return s.LookupIn(id, version, "the set")
}

// LookupIn is Lookup naming the set where in errors ("the builder").
func (s *Set) LookupIn(id, version, where string) (Buildpack, error) {
	vs := s.byID[id]
	if version != "" {
		if b, ok := vs[version]; ok {
			return b, nil
		}
		if len(vs) > 0 {
			return Buildpack{}, fmt.Errorf("buildpack %s@%s is not in %s (it has %s)", id, version, where, strings.Join(versions(vs, id), ", "))
		}
		return Buildpack{}, fmt.Errorf("buildpack %s@%s is not in %s", id, version, where)
	}
	switch len(vs) {
	case 0:
		return Buildpack{}, fmt.Errorf("buildpack %s is not in %s", id, where)
	case 1:
		for _, b := range vs {
			return b, nil
		}
	}
	return Buildpack{}, fmt.Errorf("buildpack %s has several versions in %s (%s): name one", id, where, strings.Join(versions(vs, id), ", "))
}

func versions(vs map[string]Buildpack, id string) []string {
	var out []string
	for v := range vs {
		out = append(out, id+"@"+v)
	}
	sort.Strings(out)
	return out
}

// All returns the buildpacks sorted by id, then version.
func (s *Set) All() []Buildpack {
	var out []Buildpack
	for _, vs := range s.byID {
		for _, b := range vs {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID() != out[j].ID() {
			return out[i].ID() < out[j].ID()
		}
		return out[i].Version() < out[j].Version()
	})
	return out
}

// CheckComposites checks that every buildpack named in the order of a
// composite buildpack in the set is in the set too. where names the set
// in errors ("the buildpackage", "the builder").
func (s *Set) CheckComposites(where string) error {
	for _, b := range s.All() {
		if err := s.CheckOrder(b.Descriptor.Order, where); err != nil {
			return inputErrorf("composite buildpack %s (from %s): %w", b.Ref(), b.Source, err)
		}
	}
	return nil
}

// CheckOrder checks that the set holds every buildpack o names; where
// names the set in errors.
func (s *Set) CheckOrder(o descriptor.Order, where string) error {
	for gi, g := range o {
		for ei, e := range g.Group {
			if _, err := s.LookupIn(e.ID, e.Version, where); err != nil {
				return fmt.Errorf("[[order]] #%d, [[order.group]] #%d: %w", gi+1, ei+1, err)
			}
		}
	}
	return nil
}
