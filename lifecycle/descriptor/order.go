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
func (o Order) validate() error { return o.validateAs("order") }

// validateAs is validate naming the table (order, order-extensions).
func (o Order) validateAs(table string) error {
	for i, g := range o {
		if len(g.Group) == 0 {
			return fmt.Errorf("[[%s]] #%d: empty group", table, i+1)
		}
		for j, e := range g.Group {
			at := fmt.Sprintf("[[%s]] #%d, [[%s.group]] #%d", table, i+1, table, j+1)
			if e.ID == "" {
				return fmt.Errorf("%s: id is missing", at)
			}
			if err := ValidateID(e.ID); err != nil {
				return fmt.Errorf("%s: %w", at, err)
			}
			if e.Version != "" {
				if err := ValidateVersion(e.Version); err != nil {
					return fmt.Errorf("%s (%s): %w", at, e.ID, err)
				}
			}
			for _, x := range e.ExecEnv {
				if err := validateExecEnv(x); err != nil {
					return fmt.Errorf("%s (%s): %w", at, e.ID, err)
				}
			}
		}
	}
	return nil
}

type orderFile struct {
	Order      Order `toml:"order"`
	Extensions Order `toml:"order-extensions,omitempty"`
}

// Orders is the content of an order.toml: the buildpacks' [[order]] and
// the image extensions' [[order-extensions]] (platform.md, order.toml).
type Orders struct {
	Buildpacks Order
	// Extensions are tried before every group of Buildpacks, each of
	// them optional (buildpack.md, Order Resolution).
	Extensions Order
}

// DecodeOrders decodes and validates the content of an order.toml, both
// tables. name identifies the file in errors.
func DecodeOrders(name string, data []byte) (Orders, error) {
	var f orderFile
	if _, err := decodeTOML(name, data, &f); err != nil {
		return Orders{}, err
	}
	if err := f.Order.validate(); err != nil {
		return Orders{}, fmt.Errorf("invalid %s: %w", name, err)
	}
	if err := f.Extensions.validateAs("order-extensions"); err != nil {
		return Orders{}, fmt.Errorf("invalid %s: %w", name, err)
	}
	return Orders{Buildpacks: f.Order, Extensions: f.Extensions}, nil
}

// DecodeOrder decodes and validates the content of an order.toml and
// returns its buildpacks' order (DecodeOrders has both).
func DecodeOrder(name string, data []byte) (Order, error) {
	o, err := DecodeOrders(name, data)
	return o.Buildpacks, err
}

// ReadOrders reads and validates an order.toml.
func ReadOrders(path string) (Orders, error) {
	data, err := readFile(path)
	if err != nil {
		return Orders{}, err
	}
	return DecodeOrders(path, data)
}

// ReadOrder reads and validates an order.toml and returns its
// buildpacks' order.
func ReadOrder(path string) (Order, error) {
	o, err := ReadOrders(path)
	return o.Buildpacks, err
}

// WriteOrder writes o as an order.toml at path.
func WriteOrder(path string, o Order) error {
	return WriteTOMLFile(path, orderFile{Order: o})
}

// WriteOrders writes o as an order.toml at path, [[order-extensions]]
// included when there are any.
func WriteOrders(path string, o Orders) error {
	return WriteTOMLFile(path, orderFile{Order: o.Buildpacks, Extensions: o.Extensions})
}
