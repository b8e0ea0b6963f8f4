package descriptor

import "fmt"

// GroupFile is the default file name of the detected group.
const GroupFile = "group.toml"

type groupFile struct {
	Group []GroupEntry `toml:"group"`
}

// DecodeGroup decodes and validates the content of a group.toml: every
// [[group]] entry needs id, version and api. [[group-extensions]] are
// ignored. name identifies the file in errors.
func DecodeGroup(name string, data []byte) ([]GroupEntry, error) {
	var f groupFile
	if _, err := decodeTOML(name, data, &f); err != nil {
		return nil, err
	}
	for i, e := range f.Group {
		switch {
		case e.ID == "":
			return nil, fmt.Errorf("invalid %s: [[group]] #%d: id is missing", name, i+1)
		case e.Version == "":
			return nil, fmt.Errorf("invalid %s: [[group]] #%d (%s): version is missing", name, i+1, e.ID)
		case e.API == "":
			return nil, fmt.Errorf("invalid %s: [[group]] #%d (%s): api is missing", name, i+1, e.ID)
		}
		if _, err := ParseAPI(e.API); err != nil {
			return nil, fmt.Errorf("invalid %s: [[group]] #%d (%s): %w", name, i+1, e.ID, err)
		}
		if err := ValidateID(e.ID); err != nil {
			return nil, fmt.Errorf("invalid %s: [[group]] #%d: %w", name, i+1, err)
		}
		if err := ValidateVersion(e.Version); err != nil {
			return nil, fmt.Errorf("invalid %s: [[group]] #%d (%s): %w", name, i+1, e.ID, err)
		}
	}
	return f.Group, nil
}

// ReadGroup reads and validates a group.toml.
func ReadGroup(path string) ([]GroupEntry, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeGroup(path, data)
}

// WriteGroup writes the buildpacks of a detected group as a group.toml.
// Optional flags are dropped: in a detected group every buildpack passed.
func WriteGroup(path string, group []GroupEntry) error {
	out := make([]GroupEntry, len(group))
	for i, e := range group {
		e.Optional = false
		out[i] = e
	}
	return WriteTOMLFile(path, groupFile{Group: out})
}
