package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"

	"github.com/kiln-build/kiln/internal/service/store"
)

// NewToken returns a fresh random token (32 random bytes, hex) with a
// prefix saying what it is for.
func NewToken(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return prefix + hex.EncodeToString(b)
}

// HashToken is the hex SHA-256 of token, the only form tokens are kept in.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// IsAdmin reports whether token is the admin token (constant time).
func (s *Service) IsAdmin(token string) bool {
	h := sha256.Sum256([]byte(token))
	return token != "" && subtle.ConstantTimeCompare(h[:], s.adminHash[:]) == 1
}

// matchHash compares hash with each of hashes in constant time, looking
// at all of them.
func matchHash(hash string, hashes []string) bool {
	ok := 0
	for _, h := range hashes {
		ok |= subtle.ConstantTimeCompare([]byte(hash), []byte(h))
	}
	return ok == 1
}

// Authorize checks token for app: the admin token (admin is true) or one
// of app's deploy tokens.
func (s *Service) Authorize(ctx context.Context, app, token string) (bool, error) {
	if s.IsAdmin(token) {
		return true, nil
	}
	if token == "" {
		return false, ErrUnauthorized
	}
	if _, err := s.db.GetApp(ctx, app); err != nil {
		return false, notFound(err, "app "+app)
	}
	hashes, err := s.db.DeployTokenHashes(ctx, app)
	if err != nil {
		return false, err
	}
	if !matchHash(HashToken(token), hashes) {
		return false, ErrUnauthorized
	}
	return false, nil
}

// Apps reports what token may see: every app (admin), or the apps it is
// a deploy token of; ErrUnauthorized when none.
func (s *Service) Apps(ctx context.Context, token string) (admin bool, apps []string, err error) {
	if s.IsAdmin(token) {
		return true, nil, nil
	}
	all, err := s.db.AllDeployTokenHashes(ctx)
	if err != nil {
		return false, nil, err
	}
	h := HashToken(token)
	for _, t := range all {
		if matchHash(h, []string{t.Hash}) {
			apps = append(apps, t.App)
		}
	}
	if token == "" || len(apps) == 0 {
		return false, nil, ErrUnauthorized
	}
	return false, apps, nil
}

// NewDeployToken makes a deploy token for app and returns it: only its
// hash is kept, so this is the one time it is seen.
func (s *Service) NewDeployToken(ctx context.Context, app string) (string, error) {
	token := NewToken("kd_")
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.GetApp(ctx, app); err != nil {
			return notFound(err, "app "+app)
		}
		return tx.AddDeployToken(ctx, app, HashToken(token), s.now())
	})
	if err != nil {
		return "", fmt.Errorf("making a deploy token: %w", err)
	}
	return token, nil
}
