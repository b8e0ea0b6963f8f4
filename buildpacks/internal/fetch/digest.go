package fetch

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Digest is an expected checksum.
type Digest struct {
	Algorithm string // "sha1", "sha256" or "sha512"
	Sum       []byte
}

func (d Digest) String() string { return d.Algorithm + ":" + hex.EncodeToString(d.Sum) }

func (d Digest) newHash() (hash.Hash, error) {
	switch d.Algorithm {
	case "sha1":
		return sha1.New(), nil
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported digest algorithm %q", d.Algorithm)
}

func (d Digest) matches(sum []byte) bool { return bytes.Equal(d.Sum, sum) }

// Hex returns the digest algorithm:hexvalue.
func Hex(algorithm, value string) (Digest, error) {
	sum, err := hex.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return Digest{}, fmt.Errorf("%s digest %q: %w", algorithm, value, err)
	}
	d := Digest{Algorithm: algorithm, Sum: sum}
	h, err := d.newHash()
	if err != nil {
		return Digest{}, err
	}
	if len(sum) != h.Size() {
		return Digest{}, fmt.Errorf("%s digest %q has %d bytes, want %d", algorithm, value, len(sum), h.Size())
	}
	return d, nil
}

// SRI parses a Subresource Integrity string such as npm's
// "sha512-<base64>". When several are given (space-separated), the
// strongest is used.
func SRI(s string) (Digest, error) {
	var best Digest
	rank := map[string]int{"sha1": 1, "sha256": 2, "sha512": 3}
	for _, f := range strings.Fields(s) {
		alg, b64, ok := strings.Cut(f, "-")
		if !ok || rank[alg] == 0 {
			continue
		}
		if i := strings.IndexByte(b64, '?'); i >= 0 {
			b64 = b64[:i] // options are allowed after '?'
		}
		sum, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return Digest{}, fmt.Errorf("integrity %q: %w", f, err)
		}
		d := Digest{Algorithm: alg, Sum: sum}
		h, _ := d.newHash()
		if len(sum) != h.Size() {
			return Digest{}, fmt.Errorf("integrity %q: %d bytes, want %d", f, len(sum), h.Size())
		}
		if rank[alg] > rank[best.Algorithm] {
			best = d
		}
	}
	if best.Algorithm == "" {
		return Digest{}, fmt.Errorf("integrity %q: no sha1, sha256 or sha512 value", s)
	}
	return best, nil
}
