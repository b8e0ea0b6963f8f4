package buildpacks

// Version is the version of every first-party buildpack.
const Version = "0.1.0"

// Names are the buildpacks' directory names, in a fixed order.
var Names = []string{"go", "nodejs", "python", "static", "procfile"}

// ID returns the buildpack ID of the buildpack in directory name
// ("kiln/go").
func ID(name string) string { return "kiln/" + name }

// Entry is one buildpack of an order group.
type Entry struct {
	ID       string
	Version  string
	Optional bool
}

// Group is one group of an order: buildpacks that build an app together.
type Group []Entry

func req(name string) Entry { return Entry{ID: ID(name), Version: Version} }
func opt(name string) Entry { return Entry{ID: ID(name), Version: Version, Optional: true} }

// DefaultOrder is the order of kiln's default builder, tried group by
// group: the first group whose required buildpacks all pass wins.
//
//   - Go apps, with an optional Procfile to name processes;
//   - Node.js apps, which may be single-page sites that the static
//     buildpack serves after `npm run build`;
//   - Python apps;
//   - plain static sites;
//   - anything else with a Procfile.
func DefaultOrder() []Group {
	return []Group{
		{req("go"), opt("procfile")},
		{req("nodejs"), opt("static"), opt("procfile")},
		{req("python"), opt("procfile")},
		{req("static"), opt("procfile")},
		{req("procfile")},
	}
}

// Dirs returns the directory of every packaged buildpack below root (as
// Package writes them), in Names order.
func Dirs(root string) []string {
	out := make([]string, len(Names))
	for i, n := range Names {
		out[i] = root + "/" + n
	}
	return out
}
