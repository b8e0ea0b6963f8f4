package fleet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/lifecycle/imageio"
)

// Limits bound what a registry's catalog and tag lists may make List do.
type Limits struct {
	// MaxRepositories is the most repositories under the prefix (default
	// DefaultMaxRepositories).
	MaxRepositories int
	// MaxTags is the most tags in all (default DefaultMaxTags).
	MaxTags int
	// PageSize is the n asked for per catalog or tags page by List
	// (default 1000; Fleet.List always asks for 1000).
	PageSize int
}

// Defaults of Limits.
const (
	DefaultMaxRepositories = 10000
	DefaultMaxTags         = 50000
	defaultPageSize        = 1000
	// maxPages bounds the pages of one listing whatever a registry says,
	// so that a registry answering with empty pages and a next link
	// forever cannot keep List going.
	maxPages = 10000
	// MaxListFileLines bounds a --from-file list.
	MaxListFileLines = 100000
)

func (l Limits) withDefaults() Limits {
	if l.MaxRepositories <= 0 {
		l.MaxRepositories = DefaultMaxRepositories
	}
	if l.MaxTags <= 0 {
		l.MaxTags = DefaultMaxTags
	}
	if l.PageSize <= 0 {
		l.PageSize = defaultPageSize
	}
	return l
}

// Prefix is a registry and a repository path prefix: "reg:5000/team"
// names every repository reg:5000/team/... and reg:5000/team itself;
// "reg:5000" names the whole registry.
type Prefix struct {
	Registry name.Registry
	Path     string
}

// ParsePrefix reads REGISTRY[/PATH]. A tag or digest is refused: a prefix
// names repositories.
func ParsePrefix(s string) (Prefix, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/")
	host, path, _ := strings.Cut(s, "/")
	if !imageio.NamesRegistry(host + "/x") {
		return Prefix{}, fmt.Errorf("prefix %q: want REGISTRY[/PATH], such as registry.example.com/team", s)
	}
	reg, err := name.NewRegistry(host, name.WeakValidation)
	if err != nil {
		return Prefix{}, fmt.Errorf("prefix %q: %w", s, err)
	}
	if path != "" {
		if strings.ContainsAny(path, "@:") {
			return Prefix{}, fmt.Errorf("prefix %q: a prefix names repositories, not a tag or digest", s)
		}
		if _, err := name.NewRepository(host+"/"+path, name.WeakValidation); err != nil {
			return Prefix{}, fmt.Errorf("prefix %q: %w", s, err)
		}
	}
	return Prefix{Registry: reg, Path: path}, nil
}

// Has reports whether repository repo (without the registry) is under p.
func (p Prefix) Has(repo string) bool {
	return p.Path == "" || repo == p.Path || strings.HasPrefix(repo, p.Path+"/")
}

func (p Prefix) String() string {
	if p.Path == "" {
		return p.Registry.RegistryStr()
	}
	return p.Registry.RegistryStr() + "/" + p.Path
}

// List returns every tag of every repository under p, as sorted tag
// references. The catalog is read page by page; more repositories or tags
// than lim allows is an error naming the limit, as is a registry whose
// pages do not end.
func List(ctx context.Context, p Prefix, lim Limits, opts ...remote.Option) ([]string, error) {
	lim = lim.withDefaults()
	puller, err := remote.NewPuller(append(opts, remote.WithPageSize(lim.PageSize))...)
	if err != nil {
		return nil, err
	}
	return list(ctx, puller, p, lim)
}

func list(ctx context.Context, puller *remote.Puller, p Prefix, lim Limits) ([]string, error) {
	repos, err := catalog(ctx, puller, p, lim)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, r := range repos {
		repo := p.Registry.Repo(r)
		tags, err := tagList(ctx, puller, repo, lim.MaxTags-len(refs))
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			refs = append(refs, repo.Tag(t).String())
		}
	}
	return refs, nil
}

// catalog lists the repositories under p, sorted.
func catalog(ctx context.Context, puller *remote.Puller, p Prefix, lim Limits) ([]string, error) {
	c, err := puller.Catalogger(ctx, p.Registry)
	if err != nil {
		return nil, fmt.Errorf("listing the repositories of %s: %w", p.Registry.RegistryStr(), err)
	}
	seen := map[string]bool{}
	var out []string
	for pages := 0; c.HasNext(); pages++ {
		if pages >= maxPages {
			return nil, fmt.Errorf("listing the repositories of %s: more than %d catalog pages", p.Registry.RegistryStr(), maxPages)
		}
		page, err := c.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the repositories of %s: %w", p.Registry.RegistryStr(), err)
		}
		fresh := 0
		for _, r := range page.Repos {
			if seen[r] {
				continue
			}
			seen[r] = true
			fresh++
			if !p.Has(r) {
				continue
			}
			if len(out) >= lim.MaxRepositories {
				return nil, fmt.Errorf("%s holds more than %d repositories (raise the limit with --max-repos)", p, lim.MaxRepositories)
			}
			out = append(out, r)
		}
		if fresh == 0 && page.Next != "" && len(page.Repos) > 0 {
			return nil, fmt.Errorf("listing the repositories of %s: the registry repeats a page", p.Registry.RegistryStr())
		}
	}
	sort.Strings(out)
	return out, nil
}

// tagList lists the tags of repo, sorted; more than max is an error.
func tagList(ctx context.Context, puller *remote.Puller, repo name.Repository, max int) ([]string, error) {
	l, err := puller.Lister(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", repo, err)
	}
	seen := map[string]bool{}
	var out []string
	for pages := 0; l.HasNext(); pages++ {
		if pages >= maxPages {
			return nil, fmt.Errorf("listing the tags of %s: more than %d pages", repo, maxPages)
		}
		page, err := l.Next(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the tags of %s: %w", repo, err)
		}
		fresh := 0
		for _, t := range page.Tags {
			if seen[t] {
				continue
			}
			if _, err := name.NewTag(repo.String()+":"+t, name.WeakValidation); err != nil {
				return nil, fmt.Errorf("listing the tags of %s: the registry lists an invalid tag %q", repo, t)
			}
			seen[t] = true
			fresh++
			if len(out) >= max {
				return nil, fmt.Errorf("more than the limit of tags under the prefix, reached in %s (raise it with --max-tags)", repo)
			}
			out = append(out, t)
		}
		if fresh == 0 && page.Next != "" && len(page.Tags) > 0 {
			return nil, fmt.Errorf("listing the tags of %s: the registry repeats a page", repo)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ReadList reads image references, one a line; blank lines and lines
// starting with # are skipped, as is anything after " #". Each must be a
// registry image reference; a reference given twice counts once.
func ReadList(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	seen := map[string]bool{}
	var out []string
	for n := 1; sc.Scan(); n++ {
		if n > MaxListFileLines {
			return nil, fmt.Errorf("more than %d lines", MaxListFileLines)
		}
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ref, err := name.ParseReference(line, name.WeakValidation)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not an image reference: %w", n, line, err)
		}
		if !imageio.NamesRegistry(line) {
			return nil, fmt.Errorf("line %d: %q names no registry (want REGISTRY/REPOSITORY[:TAG])", n, line)
		}
		if !seen[ref.Name()] {
			seen[ref.Name()] = true
			out = append(out, ref.Name())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line too long or unreadable: %w", err)
	}
	return out, nil
}
