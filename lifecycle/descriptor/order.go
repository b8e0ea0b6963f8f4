package descriptor

import "fmt"

// OrderFile is the default file name of the platform's order definition.
const OrderFile = "order.toml"

// Order is a list of groups tried in turn: the [[order]] array of
// order.toml or of a composite buildpack's buildpack.toml.
type Order []Group

// Group is one [[order]] entry: its [[order.group]] buildpack references.
type Group struct {
	Group []GroupEntry `toml:"group"`
}

// GroupEntry references a buildpack by id and version. The same shape
// serves order.toml and buildpack.toml [[order.group]] (id, version,
// optional, exec-env) and group.toml [[group]] (id, version, api,
// homepage, and exec-env).
type GroupEntry struct {
	ID       string   `toml:"id"`
	Version  string   `toml:"version"`
	API      string   `toml:"api,omitempty"`
	Homepage string   `toml:"homepage,omitempty"`
	Optional bool     `toml:"optional,omitempty"`
	ExecEnv  ExecEnvs `toml:"exec-env,omitempty"`
}

// Ref returns "id@version" (just "id" when the version is empty).
func (e GroupEntry) Ref() string {
	if e.Version == "" {
		return e.ID
	}
	return e.ID + "@" + e.Version
}

// String is Ref.
func (e GroupEntry) String() string { return e.Ref() }

// validate checks that every entry names an id. An empty version is
// accepted: it resolves to the only version installed (see Lookup).
func (o Order) validate() error {
	for i, g := range o {
		if len(g.Group) == 0 {
			return fmt.Errorf("[[order]] #%d: empty group", i+1)
		}
		for j, e := range g.Group {
			if e.ID == "" {
				return fmt.Errorf("[[order]] #%d, [[order.group]] #%d: id is missing", i+1, j+1)
			}
			if err := ValidateID(e.ID); err != nil {
				return fmt.Errorf("[[order]] #%d, [[order.group]] #%d: %w", i+1, j+1, err)
			}
			if e.Version != "" {
				if err := ValidateVersion(e.Version); err != nil {
					return fmt.Errorf("[[order]] #%d, [[order.group]] #%d (%s): %w", i+1, j+1, e.ID, err)
				}
			}
			for _, x := range e.ExecEnv {
				if err := validateExecEnv(x); err != nil {
					return fmt.Errorf("[[order]] #%d, [[order.group]] #%d (%s): %w", i+1, j+1, e.ID, err)
				}
			}
		}
	}
	return nil
}

type orderFile struct {
	Order Order `toml:"order"`
}

// DecodeOrder decodes and validates the content of an order.toml.
// [[order-extensions]] are ignored. name identifies the file in errors.
func DecodeOrder(name string, data []byte) (Order, error) {
	var f orderFile
	if _, err := decodeTOML(name, data, &f); err != nil {
		return nil, err
	}
	if err := f.Order.validate(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", name, err)
	}
	return f.Order, nil
}

// ReadOrder reads and validates an order.toml.
func ReadOrder(path string) (Order, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeOrder(path, data)
}

// WriteOrder writes o as an order.toml at path.
func WriteOrder(path string, o Order) error {
	return WriteTOMLFile(path, orderFile{Order: o})
}
