package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Credentials are a git URL's user name and password (its userinfo).
type Credentials struct{ Username, Password string }

// Empty reports whether there are none.
func (c Credentials) Empty() bool { return c.Username == "" && c.Password == "" }

// SplitGitURL parses a git URL of a network transport (https, http, git,
// ssh) and returns it without its userinfo, and the userinfo's
// credentials. Builds record and print only the URL without them.
func SplitGitURL(raw string) (string, Credentials, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", Credentials{}, fmt.Errorf("git URL: %v", redact(err))
	}
	switch u.Scheme {
	case "https", "http", "git", "ssh":
	default:
		return "", Credentials{}, fmt.Errorf("git URL %s: want an https://, http://, git:// or ssh:// URL", Redact(raw))
	}
	if u.Hostname() == "" {
		return "", Credentials{}, fmt.Errorf("git URL %s: no host", Redact(raw))
	}
	var c Credentials
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		u.User = nil
	}
	return u.String(), c, nil
}

// Redact is raw with any userinfo replaced by "***", for messages.
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
		return scheme + "://***@" + rest[at+1:]
	}
	return raw
}

// redact is a url.Parse error without the URL (which may hold
// credentials).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ErrPrivateAddress is what CheckGitHost returns for a host that is or
// resolves to an address of this machine or of a private network.
var ErrPrivateAddress = errors.New("resolves to a loopback, link-local or private address")

// ErrSSHNotAllowed is what CheckGitHost returns for an ssh:// URL: ssh
// runs with the worker user's own keys and ssh config, so a stranger's URL
// could clone what the operator's identity reaches.
var ErrSSHNotAllowed = errors.New("is an ssh:// URL, which clones with the worker's own ssh keys")

// refused are the networks a git URL may not reach unless allowed: this
// machine, link-local, private (RFC 1918, ULA), shared (RFC 6598) and
// unspecified or multicast addresses.
var refused = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
}

// PublicAddr reports whether a is an address a clone may reach.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range refused {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Resolver looks host names up; net.DefaultResolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckGitHost resolves the host of git URL raw (SplitGitURL's form) and
// refuses it when any of its addresses is not public (ErrPrivateAddress),
// or when it is an ssh:// URL (ErrSSHNotAllowed). It returns the
// addresses, for the clone to connect to them only.
func CheckGitHost(ctx context.Context, r Resolver, raw string) ([]netip.Addr, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("git URL: %v", redact(err))
	}
	if u.Scheme == "ssh" {
		return nil, fmt.Errorf("git URL %s %w (kiln serve --allow-private-git allows it)", Redact(raw), ErrSSHNotAllowed)
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = r.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %s: no address", host)
	}
	for _, a := range addrs {
		if !PublicAddr(a) {
			return nil, fmt.Errorf("git URL %s: %s (%s) %w (kiln serve --allow-private-git allows it)", Redact(raw), host, a, ErrPrivateAddress)
		}
	}
	return addrs, nil
}

// curlResolve is git's http.curloptResolve entry that pins raw's host to
// addr: HOST:PORT:ADDR.
func curlResolve(raw string, addr netip.Addr) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	a := addr.Unmap().String()
	if addr.Unmap().Is6() {
		a = "[" + a + "]"
	}
	return net.JoinHostPort(u.Hostname(), port) + ":" + a, true
}

// pinGitURL is git:// URL raw with its host replaced by addr (when
// valid), so git connects there without looking the name up again (the
// git protocol has no other way to pin it; http(s) uses curlResolve).
// Other URLs are returned as they are.
func pinGitURL(raw string, addr netip.Addr) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "git" || !addr.IsValid() {
		return raw
	}
	u.Host = net.JoinHostPort(addr.Unmap().String(), cmp.Or(u.Port(), "9418"))
	return u.String()
}

// Userinfo is c in a URL's escaped userinfo form (user:password).
func (c Credentials) Userinfo() string {
	if c.Password == "" {
		return url.User(c.Username).String()
	}
	return url.UserPassword(c.Username, c.Password).String()
}

// ParseUserinfo reads Credentials.Userinfo's form.
func ParseUserinfo(s string) (Credentials, error) {
	u, err := url.Parse("x://" + s + "@h")
	if err != nil || u.User == nil {
		return Credentials{}, errors.New("malformed git credentials")
	}
	p, _ := u.User.Password()
	return Credentials{Username: u.User.Username(), Password: p}, nil
}
