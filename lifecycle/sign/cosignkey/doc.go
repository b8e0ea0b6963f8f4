// Package cosignkey reads and writes key pairs in the files cosign uses:
// cosign.key, a PKCS#8 private key encrypted with go-securesystemslib's
// scrypt+secretbox format in a PEM block "ENCRYPTED SIGSTORE PRIVATE KEY"
// (older cosign wrote "ENCRYPTED COSIGN PRIVATE KEY"), and cosign.pub, a
// PEM public key. Keys come back as sigstore signature.SignerVerifier and
// signature.Verifier values, the same types cosign signs and verifies
// with, so a signature made here verifies with `cosign verify --key`.
//
// The password is COSIGN_PASSWORD's value, as cosign reads it.
package cosignkey
