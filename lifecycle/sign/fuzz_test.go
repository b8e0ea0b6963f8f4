package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The layers of signature and attestation images are outside input:
// checking them must not panic, and nothing unsigned may pass.
func FuzzCheckEntries(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AAAA"}]}`), "AAAA")
	f.Add([]byte(`{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"sha256:00"}}}`), "MEUCIQ==")
	f.Add([]byte(`{}`), "")
	key := newKey(f)
	ref, _ := name.NewDigest("reg.example/app@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, payload []byte, sig string) {
		sum := sha256.Sum256(payload)
		d := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
		for _, mt := range []string{string(SimpleSigningMediaType), string(DSSEMediaType)} {
			e := entry{payload: payload, digest: d, mediaType: types.MediaType(mt),
				annotations: map[string]string{SignatureAnnotation: sig}}
			if checkSignatureEntry(e, ref, key) == nil {
				t.Fatalf("an unsigned payload verified: %q", payload)
			}
			if _, err := openAttestation(context.Background(), e, key); err == nil {
				t.Fatalf("an unsigned attestation verified: %q", payload)
			}
		}
	})
}
