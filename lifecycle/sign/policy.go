package sign

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/lifecycle/provenance"
)

// matchBuilder checks the provenance's builder against want.
func matchBuilder(p *provenance.Predicate, want string) (bool, string) {
	if p == nil {
		return false, "no verified provenance to check"
	}
	recorded := p.BuildDefinition.ExternalParameters.BuilderImage
	var digest v1.Hash
	if d, ok := p.Dependency(provenance.DepBuilder); ok {
		if hex := d.Digest["sha256"]; hex != "" {
			digest = v1.Hash{Algorithm: "sha256", Hex: hex}
		}
		if recorded == "" {
			recorded = strings.TrimPrefix(d.URI, "oci://")
		}
	}
	got := recorded
	if digest.Hex != "" {
		got += " (" + digest.String() + ")"
	}
	if recorded == "" && digest.Hex == "" {
		return false, fmt.Sprintf("the provenance names no builder, want %s", want)
	}
	wantName, wantDigest, hasDigest := strings.Cut(want, "@")
	if !hasDigest && strings.HasPrefix(want, "sha256:") {
		wantName, wantDigest, hasDigest = "", want, true
	}
	if hasDigest && wantDigest != digest.String() {
		return false, fmt.Sprintf("builder %s, want digest %s", got, wantDigest)
	}
	if wantName != "" && normalImage(wantName, hasDigest) != normalImage(recorded, hasDigest) {
		return false, fmt.Sprintf("builder %s, want %s", got, want)
	}
	return true, "builder " + got
}

// normalImage spells an image name the way go-containerregistry does
// (registry and tag filled in); repoOnly drops the tag or digest.
func normalImage(s string, repoOnly bool) string {
	s = strings.TrimPrefix(s, "oci://")
	if i := strings.Index(s, "@"); i >= 0 {
		s = s[:i]
	}
	ref, err := name.ParseReference(s, name.WeakValidation)
	if err != nil {
		return s
	}
	if repoOnly {
		return ref.Context().Name()
	}
	return ref.Name()
}

// matchSource checks the provenance's git remote against want.
func matchSource(p *provenance.Predicate, want string) (bool, string) {
	if p == nil {
		return false, "no verified provenance to check"
	}
	g := p.BuildDefinition.ExternalParameters.Source.Git
	if g == nil {
		return false, fmt.Sprintf("the source is not a git checkout (digest %v), want %s", p.BuildDefinition.ExternalParameters.Source.Digest, want)
	}
	if g.Remote == "" {
		return false, fmt.Sprintf("the source (commit %s) records no remote, want %s", g.Commit, want)
	}
	if NormalRepo(g.Remote) != NormalRepo(want) {
		return false, fmt.Sprintf("source repo %s, want %s", g.Remote, want)
	}
	return true, fmt.Sprintf("source repo %s, commit %s", g.Remote, g.Commit)
}

// NormalRepo reduces a git remote URL to host/path: no scheme, user or
// port-less differences, no trailing "/" or ".git", host lower-cased;
// scp-like git@host:path becomes host/path.
func NormalRepo(s string) string {
	s = strings.TrimSpace(s)
	host, path := "", s
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		host, path = u.Host, u.Path
	} else if at, rest, ok := strings.Cut(s, "@"); ok && !strings.Contains(at, "/") {
		if h, p, ok := strings.Cut(rest, ":"); ok {
			host, path = h, p
		}
	} else if h, p, ok := strings.Cut(s, ":"); ok && !strings.Contains(h, "/") && h != "" {
		host, path = h, p
	}
	path = strings.TrimSuffix(strings.TrimSuffix(strings.Trim(path, "/"), ".git"), "/")
	if host == "" {
		return path
	}
	return strings.ToLower(host) + "/" + path
}

// isNetError says whether err is a failure to reach a host.
func isNetError(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}
