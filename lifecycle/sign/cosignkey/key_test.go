package cosignkey

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// roundTrip signs with priv and verifies with pub.
func roundTrip(t *testing.T, privPath, pubPath string, password []byte) {
	t.Helper()
	sv, err := LoadPrivateKey(privPath, password)
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("payload")
	sig, err := sv.SignMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
		t.Fatalf("the public key does not verify the private key's signature: %v", err)
	}
	if err := v.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("other"))); err == nil {
		t.Fatal("a signature verified for another message")
	}
}

func TestCosignCLIKey(t *testing.T) {
	roundTrip(t, "testdata/cosign-cli.key", "testdata/cosign-cli.pub", []byte("kiln-fixture"))
}

// A key pair kiln wrote earlier (checked in) still reads.
func TestKilnKeyFixture(t *testing.T) {
	roundTrip(t, "testdata/kiln.key", "testdata/kiln.pub", []byte("kiln-fixture"))
}

func TestWriteKeyPair(t *testing.T) {
	for _, pw := range []string{"secret", ""} {
		prefix := filepath.Join(t.TempDir(), "cosign")
		if err := WriteKeyPair(prefix, []byte(pw)); err != nil {
			t.Fatal(err)
		}
		priv, _ := os.ReadFile(prefix + ".key")
		if !strings.HasPrefix(string(priv), "-----BEGIN "+SigstorePrivateKeyType+"-----") {
			t.Errorf("key file starts %q", strings.SplitN(string(priv), "\n", 2)[0])
		}
		if fi, _ := os.Stat(prefix + ".key"); fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %v", fi.Mode().Perm())
		}
		roundTrip(t, prefix+".key", prefix+".pub", []byte(pw))
		if err := WriteKeyPair(prefix, []byte(pw)); err == nil {
			t.Error("WriteKeyPair replaced an existing key")
		}
	}
}

// encryptedPEM wraps der as a cosign key of type typ.
func encryptedPEM(t *testing.T, typ string, der, password []byte) []byte {
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: enc})
}

func TestPrivateKeyErrors(t *testing.T) {
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xder, _ := x509.MarshalPKCS8PrivateKey(x)
	good, _, err := Generate([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile("testdata/cosign-cli.pub")
	for _, tc := range []struct {
		name, data, password, want string
	}{
		{"wrong password", string(good), "nope", "wrong password"},
		{"not PEM", "hello", "pw", "no PEM block"},
		{"public key", string(pub), "pw", `PEM block "PUBLIC KEY"`},
		{"unsupported key", string(encryptedPEM(t, SigstorePrivateKeyType, xder, []byte("pw"))), "pw", "unsupported key type"},
		{"not PKCS8", string(encryptedPEM(t, CosignPrivateKeyType, []byte("junk"), []byte("pw"))), "pw", "PKCS#8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "my.key")
			os.WriteFile(p, []byte(tc.data), 0o600)
			_, err := LoadPrivateKey(p, []byte(tc.password))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, p, tc.want)
			}
		})
	}
	if _, err := LoadPrivateKey("testdata/cosign-cli.key", []byte("nope")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := LoadPrivateKey(filepath.Join(t.TempDir(), "missing.key"), nil); err == nil || !strings.Contains(err.Error(), "missing.key") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.key")
	os.WriteFile(big, bytes.Repeat([]byte("A"), maxKeyFile+1), 0o600)
	if _, err := LoadPrivateKey(big, nil); err == nil || !strings.Contains(err.Error(), "not a key file") {
		t.Errorf("huge file: %v", err)
	}
}

func TestPublicKeyErrors(t *testing.T) {
	priv, _ := os.ReadFile("testdata/cosign-cli.key")
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xder, _ := x509.MarshalPKIXPublicKey(x.PublicKey())
	for _, tc := range []struct{ name, data, want string }{
		{"private key", string(priv), "a private key is not a public key"},
		{"not PEM", "ssh-ed25519 AAAA", "no PEM block"},
		{"unsupported", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: xder})), "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "my.pub")
			os.WriteFile(p, []byte(tc.data), 0o644)
			_, err := LoadPublicKey(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, p, tc.want)
			}
		})
	}
}

func TestPasswordFromEnv(t *testing.T) {
	t.Setenv(PasswordEnv, "")
	if p, err := PasswordFromEnv(); err != nil || len(p) != 0 {
		t.Errorf("empty: %q %v", p, err)
	}
	os.Unsetenv(PasswordEnv)
	if _, err := PasswordFromEnv(); !errors.Is(err, ErrNoPassword) {
		t.Errorf("unset: %v", err)
	}
}
