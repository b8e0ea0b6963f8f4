package gotoolchain

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultProxy is used when GOPROXY is empty.
const DefaultProxy = "https://proxy.golang.org"

// SumGolangOrgKey is the verifier key of sum.golang.org, as built into the
// go command.
const SumGolangOrgKey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

// ProxyFromEnv picks the proxy URL to download toolchains from out of a
// GOPROXY value: the first entry that is neither "direct" nor "off".
// Toolchains exist only as proxy modules, so a GOPROXY without a proxy is
// an error.
func ProxyFromEnv(goproxy string) (string, error) {
	if strings.TrimSpace(goproxy) == "" {
		return DefaultProxy, nil
	}
	for _, p := range strings.FieldsFunc(goproxy, func(r rune) bool { return r == ',' || r == '|' }) {
		p = strings.TrimSpace(p)
		switch p {
		case "", "direct":
			continue
		case "off":
			return "", fmt.Errorf("GOPROXY=%q turns the module proxy off, but Go toolchains are only published through it", goproxy)
		}
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
			return "", fmt.Errorf("GOPROXY entry %q is not an http(s) URL", p)
		}
		return strings.TrimRight(p, "/"), nil
	}
	return "", fmt.Errorf("GOPROXY=%q names no proxy, but Go toolchains are only published through one", goproxy)
}

// SumDB is a checksum database to verify downloads against.
type SumDB struct {
	// Key is the verifier key ("name+hash+keydata").
	Key string
	// URL is where to reach it; empty means through the proxy when the
	// proxy supports it, else https://<name>.
	URL string
}

// Name is the database's server name, the first part of its key.
func (s SumDB) Name() string {
	n, _, _ := strings.Cut(s.Key, "+")
	return n
}

// SumDBFromEnv interprets GOSUMDB. It returns nil for "off". Besides the
// default sum.golang.org, a database is given as "<key>" or "<key> <url>".
func SumDBFromEnv(gosumdb string) (*SumDB, error) {
	v := strings.TrimSpace(gosumdb)
	switch v {
	case "off":
		return nil, nil
	case "", "sum.golang.org":
		return &SumDB{Key: SumGolangOrgKey}, nil
	}
	key, u, _ := strings.Cut(v, " ")
	if !strings.Contains(key, "+") {
		return nil, fmt.Errorf("GOSUMDB=%q: the go command knows no key for %q; give it as <name>+<hash>+<key>", gosumdb, key)
	}
	s := &SumDB{Key: key, URL: strings.TrimRight(strings.TrimSpace(u), "/")}
	if s.URL != "" && !strings.Contains(s.URL, "://") {
		s.URL = "https://" + s.URL
	}
	return s, nil
}
