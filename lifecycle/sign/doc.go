// Package sign signs images and attaches in-toto attestations to them in
// the layout cosign reads and writes, and verifies both.
//
// A signature is a layer of the image tagged sha256-<hex>.sig in the
// signed image's repository: the cosign "simple signing" payload (media
// type application/vnd.dev.cosign.simplesigning.v1+json) naming the
// repository and the manifest digest, with the base64 signature in the
// layer's dev.cosignproject.cosign/signature annotation. An attestation
// is a layer of sha256-<hex>.att: a DSSE envelope (payload type
// application/vnd.in-toto+json, media type
// application/vnd.dsse.envelope.v1+json) around an in-toto v1 statement,
// annotated with its predicateType. `cosign verify --key` and `cosign
// verify-attestation --key` accept what Sign and Attest write, and Verify
// accepts what cosign writes.
//
// Package signindex signs and verifies multi-platform image indexes
// with these.
//
// Signing goes through sigstore's signature.Signer, so a key file (package
// cosignkey), a KMS key or a keyless Fulcio signer all fit. Everything
// read from a registry is bounded (layer count and sizes) and treated as
// hostile until its signature checks out. Writes push the whole new image
// before its tag moves (go-containerregistry's remote.Write), so a failed
// Sign or Attest leaves the previous signature image as it was.
package sign
