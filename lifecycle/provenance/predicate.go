package provenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PredicateType is the in-toto predicate type of SLSA v1 provenance.
const PredicateType = "https://slsa.dev/provenance/v1"

// BuildType says how to read a kiln build's parameters: a CNB build of
// the source named in externalParameters.source with the builder image
// externalParameters.builderImage (see this package's README).
const BuildType = "https://github.com/kiln-build/kiln/blob/main/lifecycle/provenance/README.md#build-type-v1"

// BuilderIDPrefix starts runDetails.builder.id; the kiln version follows.
const BuilderIDPrefix = "https://github.com/kiln-build/kiln/cmd/kiln@"

// Predicate is a SLSA v1 provenance predicate, field names as in the
// specification (https://slsa.dev/spec/v1.0/provenance).
type Predicate struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition is what went into the build.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   *InternalParameters  `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// ExternalParameters are the inputs the user controls.
type ExternalParameters struct {
	// Source is the app's source.
	Source Source `json:"source"`
	// BuilderImage is the builder as the user named it.
	BuilderImage string `json:"builderImage,omitempty"`
	// RunImage is the run image the user asked for (--run-image), if any.
	RunImage string `json:"runImage,omitempty"`
	// Buildpacks are the --buildpack values, if any.
	Buildpacks []string `json:"buildpacks,omitempty"`
	// RebasedFrom is the image (repo@digest) a rebase started from.
	RebasedFrom string `json:"rebasedFrom,omitempty"`
}

// Source is a git commit (with the remote it came from) or, outside a
// git checkout, a digest of the source tree.
type Source struct {
	Git    *GitSource        `json:"git,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// GitSource is a checked-out commit.
type GitSource struct {
	Commit string `json:"commit"`
	// Remote is the origin remote's URL, without any credentials.
	Remote string `json:"remote,omitempty"`
	// Path is the source dir relative to the checkout's top, if not ".".
	Path string `json:"path,omitempty"`
}

// InternalParameters are the build platform's own settings.
type InternalParameters struct {
	// EnvNames are the names (never the values) of the build-time env.
	EnvNames []string `json:"envNames,omitempty"`
}

// ResourceDescriptor is an in-toto v1 resource descriptor.
type ResourceDescriptor struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RunDetails is this run of the build.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

// Builder is who ran the build.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Metadata identifies the run.
type Metadata struct {
	InvocationID string     `json:"invocationId,omitempty"`
	StartedOn    *time.Time `json:"startedOn,omitempty"`
	FinishedOn   *time.Time `json:"finishedOn,omitempty"`
}

// Names of resolvedDependencies entries.
const (
	DepBuilder   = "builder"
	DepRunImage  = "run-image"
	DepBuildpack = "buildpack"
)

// Dependency returns the first resolved dependency called name.
func (p *Predicate) Dependency(name string) (ResourceDescriptor, bool) {
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		if d.Name == name {
			return d, true
		}
	}
	return ResourceDescriptor{}, false
}

// JSON is the predicate's JSON encoding.
func (p *Predicate) JSON() ([]byte, error) { return json.Marshal(p) }

// maxPredicate bounds a predicate read from outside.
const maxPredicate = 4 << 20

// Decode parses a kiln provenance predicate (as read from an
// attestation: untrusted until its signature was checked, and bounded).
func Decode(data []byte) (*Predicate, error) {
	if len(data) > maxPredicate {
		return nil, fmt.Errorf("provenance predicate of %d bytes: more than %d MiB", len(data), maxPredicate>>20)
	}
	var p Predicate
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parsing the provenance predicate: %w", err)
	}
	if p.BuildDefinition.BuildType == "" {
		return nil, errors.New("provenance predicate without buildDefinition.buildType")
	}
	return &p, nil
}
