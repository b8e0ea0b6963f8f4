package descriptor

import (
	"fmt"
	"strconv"
	"strings"
)

// API is a Buildpack or Platform API version: <major>.<minor>, where a bare
// <major> means <major>.0.
type API struct {
	Major, Minor uint64
}

// ParseAPI parses "0.12" or "1" into an API. Both parts must be unsigned
// decimal integers.
func ParseAPI(s string) (API, error) {
	if s == "" {
		return API{}, fmt.Errorf("empty API version")
	}
	majorStr, minorStr, hasMinor := strings.Cut(s, ".")
	major, err := parseUint(majorStr)
	if err != nil {
		return API{}, fmt.Errorf("API version %q: major: %w", s, err)
	}
	var minor uint64
	if hasMinor {
		if minor, err = parseUint(minorStr); err != nil {
			return API{}, fmt.Errorf("API version %q: minor: %w", s, err)
		}
	}
	return API{Major: major, Minor: minor}, nil
}

func parseUint(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("missing number")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not an unsigned integer", s)
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// MustParseAPI is ParseAPI for constants; it panics on a malformed version.
func MustParseAPI(s string) API {
	a, err := ParseAPI(s)
	if err != nil {
		panic(err)
	}
	return a
}

// Compare returns -1, 0 or +1 as a is older than, equal to or newer than b.
func (a API) Compare(b API) int {
	switch {
	case a.Major < b.Major:
		return -1
	case a.Major > b.Major:
		return 1
	case a.Minor < b.Minor:
		return -1
	case a.Minor > b.Minor:
		return 1
	}
	return 0
}

// AtLeast reports whether a is b or newer.
func (a API) AtLeast(b API) bool { return a.Compare(b) >= 0 }

// String formats the version as <major>.<minor>.
func (a API) String() string { return fmt.Sprintf("%d.%d", a.Major, a.Minor) }

// Supported API versions of kiln's lifecycle.
var (
	// BuildpackAPI is the newest Buildpack API kiln implements.
	BuildpackAPI = API{0, 12}
	// OldestBuildpackAPI is the oldest Buildpack API kiln accepts.
	OldestBuildpackAPI = API{0, 7}
	// PlatformAPI is the Platform API kiln implements.
	PlatformAPI = API{0, 15}
)
