package cosignkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// PEM block types of cosign's private key file: cosign 1.x wrote the
// first, cosign 2.x and later (and this package) the second.
const (
	CosignPrivateKeyType   = "ENCRYPTED COSIGN PRIVATE KEY"
	SigstorePrivateKeyType = "ENCRYPTED SIGSTORE PRIVATE KEY"
)

// PasswordEnv is the variable the key's password is read from, as cosign
// reads it.
const PasswordEnv = "COSIGN_PASSWORD"

// maxKeyFile bounds a key file: real ones are well under 1 KiB (an RSA
// 4096 key, encrypted and PEM-encoded, is about 3.5 KiB).
const maxKeyFile = 64 << 10

// ErrNoPassword is returned when COSIGN_PASSWORD is not set.
var ErrNoPassword = errors.New(PasswordEnv + " is not set (it holds the key's password; it may be empty)")

// ErrWrongPassword is returned when a key does not decrypt with the
// password given.
var ErrWrongPassword = errors.New("wrong password (" + PasswordEnv + ") or a damaged key")

// PasswordFromEnv returns COSIGN_PASSWORD's value, or ErrNoPassword when
// it is unset. An empty value is a valid (empty) password, as in cosign.
func PasswordFromEnv() ([]byte, error) {
	p, ok := os.LookupEnv(PasswordEnv)
	if !ok {
		return nil, ErrNoPassword
	}
	return []byte(p), nil
}

// readFile reads a key file of at most maxKeyFile bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("larger than %d KiB: not a key file", maxKeyFile>>10)
	}
	return data, nil
}

// LoadPrivateKey reads the cosign private key at path, decrypted with
// password. Errors name the file.
func LoadPrivateKey(path string, password []byte) (signature.SignerVerifier, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading private key %s: %w", path, err)
	}
	sv, err := ParsePrivateKey(data, password)
	if err != nil {
		return nil, fmt.Errorf("private key %s: %w", path, err)
	}
	return sv, nil
}

// ParsePrivateKey decodes a cosign private key file's content.
func ParsePrivateKey(data, password []byte) (signature.SignerVerifier, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block: not a cosign key file")
	}
	if block.Type != SigstorePrivateKeyType && block.Type != CosignPrivateKeyType {
		return nil, fmt.Errorf("PEM block %q: want %q (cosign generate-key-pair or kiln key generate)", block.Type, SigstorePrivateKeyType)
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		if err.Error() == "encrypted: decryption failed" {
			return nil, ErrWrongPassword
		}
		return nil, fmt.Errorf("decrypting: %w", err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the decrypted PKCS#8 key: %w", err)
	}
	if err := checkKey(pk); err != nil {
		return nil, err
	}
	// As cosign loads keys: the algorithm's default hash, and Ed25519ph
	// for Ed25519 keys.
	return signature.LoadDefaultSignerVerifier(pk, options.WithED25519ph())
}

// checkKey accepts the key types cosign signs with.
func checkKey(k any) error {
	switch k := k.(type) {
	case *ecdsa.PrivateKey, *ecdsa.PublicKey, ed25519.PrivateKey, ed25519.PublicKey:
		return nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits: at least 2048 are needed", k.N.BitLen())
		}
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits: at least 2048 are needed", k.N.BitLen())
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T (want ECDSA, RSA or Ed25519)", k)
}

// LoadPublicKey reads the PEM public key at path (cosign.pub).
func LoadPublicKey(path string) (signature.Verifier, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading public key %s: %w", path, err)
	}
	v, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return v, nil
}

// ParsePublicKey decodes a PEM public key.
func ParsePublicKey(data []byte) (signature.Verifier, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block: not a public key file")
	}
	if block.Type != string(cryptoutils.PublicKeyPEMType) {
		return nil, fmt.Errorf("PEM block %q: want %q (a private key is not a public key)", block.Type, cryptoutils.PublicKeyPEMType)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, err
	}
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	return signature.LoadDefaultVerifier(pub, options.WithED25519ph())
}

// Generate makes a new ECDSA P-256 key pair, as `cosign generate-key-pair`
// does: the private key encrypted with password, both PEM-encoded.
func Generate(password []byte) (priv, pub []byte, err error) {
	if password == nil {
		password = []byte{}
	}
	return cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), func(bool) ([]byte, error) { return password, nil })
}

// WriteKeyPair generates a key pair and writes it to prefix.key (mode
// 0600) and prefix.pub, refusing to replace existing files.
func WriteKeyPair(prefix string, password []byte) error {
	priv, pub, err := Generate(password)
	if err != nil {
		return fmt.Errorf("generating a key pair: %w", err)
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{prefix + ".key", priv, 0o600}, {prefix + ".pub", pub, 0o644}} {
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		_, werr := fh.Write(f.data)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("writing %s: %w", f.path, werr)
		}
	}
	return nil
}
