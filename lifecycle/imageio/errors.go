package imageio

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// IsNotFound reports whether err says only that the image does not exist:
// the local store's or a layout's ErrNotFound, a missing layout or archive,
// or a registry answering MANIFEST_UNKNOWN, NAME_UNKNOWN, NOT_FOUND or a
// bare 404 to a manifest request. Rejected credentials (401, 403,
// UNAUTHORIZED, DENIED), network errors, timeouts and server errors are
// not "not found": a caller must not mistake them for a first build.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotFound) {
		return true
	}
	var te *transport.Error
	if !errors.As(err, &te) || isAuthError(te) {
		return false
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, "NOT_FOUND":
			return true
		}
	}
	if te.StatusCode != http.StatusNotFound || len(te.Errors) > 0 {
		return false
	}
	// A bare 404 (HEAD answers have no body) means "no such image" only
	// for the manifest; a missing blob is a broken image.
	return te.Request == nil || strings.Contains(te.Request.URL.Path, "/manifests/")
}

// IsAuthError reports whether err is a registry rejecting the credentials
// it was given (or the lack of them): 401, 403, UNAUTHORIZED or DENIED.
func IsAuthError(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && isAuthError(te)
}

func isAuthError(te *transport.Error) bool {
	if te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden {
		return true
	}
	for _, d := range te.Errors {
		if d.Code == transport.UnauthorizedErrorCode || d.Code == transport.DeniedErrorCode {
			return true
		}
	}
	return false
}

// DescribeAuthError turns a registry's rejection of credentials into a
// message that names the registry and the repository and says where kiln
// took the credentials from; other errors come back unchanged.
func DescribeAuthError(err error, registry, repo string) error {
	if !IsAuthError(err) {
		return err
	}
	return &AuthError{Registry: registry, Repo: repo, Err: err}
}

// AuthError is a registry rejecting kiln's credentials.
type AuthError struct {
	Registry string // host[:port]
	Repo     string // repository in the registry
	Err      error  // the registry's answer
	// NoCredentials: kiln had none for the registry (it asked without).
	NoCredentials bool
}

func (e *AuthError) Error() string {
	if e.NoCredentials {
		return fmt.Sprintf("registry %s wants credentials for repository %s and kiln has none for it "+
			"(docker login %s, or set $DOCKER_CONFIG or CNB_REGISTRY_AUTH): %s",
			e.Registry, e.Repo, e.Registry, authReason(e.Err))
	}
	return fmt.Sprintf("registry %s rejected the credentials for repository %s "+
		"(check docker login %s, $DOCKER_CONFIG or CNB_REGISTRY_AUTH): %s",
		e.Registry, e.Repo, e.Registry, authReason(e.Err))
}

// authReason is the registry's answer without the request URL and the
// scopes it lists: "401 Unauthorized: UNAUTHORIZED: authentication required".
func authReason(err error) string {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err.Error()
	}
	parts := []string{fmt.Sprintf("%d %s", te.StatusCode, http.StatusText(te.StatusCode))}
	for _, d := range te.Errors {
		parts = append(parts, fmt.Sprintf("%s: %s", d.Code, d.Message))
	}
	return strings.Join(parts, ": ")
}

func (e *AuthError) Unwrap() error { return e.Err }
