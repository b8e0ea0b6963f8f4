package imageio

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// envKeychain reads CNB_REGISTRY_AUTH, the platform spec's way to hand
// credentials to a lifecycle: a JSON object mapping a registry to the
// value of an Authorization header ("Basic ...", "Bearer ...").
type envKeychain struct{}

var _ authn.Keychain = envKeychain{}

func (envKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	raw := os.Getenv("CNB_REGISTRY_AUTH")
	if raw == "" {
		return authn.Anonymous, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("CNB_REGISTRY_AUTH is not a JSON object of registry to header: %w", err)
	}
	h, ok := m[r.RegistryStr()]
	if !ok {
		return authn.Anonymous, nil
	}
	scheme, value, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		return authn.FromConfig(authn.AuthConfig{Auth: value}), nil
	case "bearer":
		return authn.FromConfig(authn.AuthConfig{RegistryToken: value}), nil
	}
	return nil, fmt.Errorf("CNB_REGISTRY_AUTH for %s: unsupported scheme %q", r.RegistryStr(), scheme)
}

// DefaultKeychain is CNB_REGISTRY_AUTH first, then the Docker config
// (and credential helpers), else anonymous.
var DefaultKeychain authn.Keychain = authn.NewMultiKeychain(envKeychain{}, authn.DefaultKeychain)
