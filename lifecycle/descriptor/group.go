package descriptor

import "fmt"

// GroupFile is the default file name of the detected group.
const GroupFile = "group.toml"

type groupFile struct {
	Group      []GroupEntry `toml:"group"`
	Extensions []GroupEntry `toml:"group-extensions,omitempty"`
}

// Groups is the content of a group.toml: the buildpacks detect chose,
// in build order, and the image extensions it chose, in generate order.
type Groups struct {
	Buildpacks []GroupEntry
	Extensions []GroupEntry
}

// DecodeGroups decodes and validates the content of a group.toml: every
// [[group]] and [[group-extensions]] entry needs id, version and api.
// name identifies the file in errors.
func DecodeGroups(name string, data []byte) (Groups, error) {
	var f groupFile
	if _, err := decodeTOML(name, data, &f); err != nil {
		return Groups{}, err
	}
	if err := validateGroup(name, "group", f.Group); err != nil {
		return Groups{}, err
	}
	if err := validateGroup(name, "group-extensions", f.Extensions); err != nil {
		return Groups{}, err
	}
	return Groups{Buildpacks: f.Group, Extensions: f.Extensions}, nil
}

func validateGroup(name, table string, entries []GroupEntry) error {
	for i, e := range entries {
		switch {
		case e.ID == "":
			return fmt.Errorf("invalid %s: [[%s]] #%d: id is missing", name, table, i+1)
		case e.Version == "":
			return fmt.Errorf("invalid %s: [[%s]] #%d (%s): version is missing", name, table, i+1, e.ID)
		case e.API == "":
			return fmt.Errorf("invalid %s: [[%s]] #%d (%s): api is missing", name, table, i+1, e.ID)
		}
		if _, err := ParseAPI(e.API); err != nil {
			return fmt.Errorf("invalid %s: [[%s]] #%d (%s): %w", name, table, i+1, e.ID, err)
		}
		if err := ValidateID(e.ID); err != nil {
			return fmt.Errorf("invalid %s: [[%s]] #%d: %w", name, table, i+1, err)
		}
		if err := ValidateVersion(e.Version); err != nil {
			return fmt.Errorf("invalid %s: [[%s]] #%d (%s): %w", name, table, i+1, e.ID, err)
		}
	}
	return nil
}

// DecodeGroup decodes and validates the content of a group.toml and
// returns its buildpacks (DecodeGroups has the extensions too).
func DecodeGroup(name string, data []byte) ([]GroupEntry, error) {
	g, err := DecodeGroups(name, data)
	return g.Buildpacks, err
}

// ReadGroups reads and validates a group.toml.
func ReadGroups(path string) (Groups, error) {
	data, err := readFile(path)
	if err != nil {
		return Groups{}, err
	}
	return DecodeGroups(path, data)
}

// ReadGroup reads and validates a group.toml and returns its buildpacks.
func ReadGroup(path string) ([]GroupEntry, error) {
	g, err := ReadGroups(path)
	return g.Buildpacks, err
}

// WriteGroup writes the buildpacks of a detected group as a group.toml.
// Optional flags are dropped: in a detected group every buildpack passed.
func WriteGroup(path string, group []GroupEntry) error {
	return WriteGroups(path, Groups{Buildpacks: group})
}

// WriteGroups writes a detected group as a group.toml, with
// [[group-extensions]] when image extensions passed. Optional flags are
// dropped.
func WriteGroups(path string, g Groups) error {
	f := groupFile{Group: noOptional(g.Buildpacks)}
	if len(g.Extensions) > 0 {
		f.Extensions = noOptional(g.Extensions)
	}
	return WriteTOMLFile(path, f)
}

func noOptional(group []GroupEntry) []GroupEntry {
	out := make([]GroupEntry, len(group))
	for i, e := range group {
		e.Optional = false
		out[i] = e
	}
	return out
}
