package sandbox

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testCertPEM makes a self-signed CA certificate in PEM form.
func testCertPEM(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Unix(0, 0).Add(100 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCertificatesPEM(t *testing.T) {
	a, b := testCertPEM(t, "a"), testCertPEM(t, "b")
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret")})
	broken := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr string
	}{{
		name: "two certificates with text around them",
		in:   concat([]byte("Subject: a\n"), a, []byte("\n\n"), b),
		want: concat(a, b),
	}, {
		name: "keys left out",
		in:   concat(key, a),
		want: a,
	}, {
		name:    "only a key",
		in:      key,
		wantErr: "no PEM certificate found",
	}, {
		name:    "not PEM",
		in:      []byte("hello"),
		wantErr: "no PEM certificate found",
	}, {
		name:    "certificate that does not parse",
		in:      concat(a, broken),
		wantErr: "certificate 2:",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := certificatesPEM(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(tt.want), string(got)); diff != "" {
				t.Errorf("certificates (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzCertificatesPEM(f *testing.F) {
	f.Add(testCertPEM(f, "seed"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := certificatesPEM(data)
		if err != nil {
			return
		}
		// What comes out is certificates only, and stable.
		again, err := certificatesPEM(out)
		if err != nil {
			t.Fatalf("output does not parse again: %v", err)
		}
		if !bytes.Equal(out, again) {
			t.Errorf("output changed when parsed again")
		}
	})
}

func TestCABundle(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host.crt")
	hostPEM := testCertPEM(t, "host")
	writeTestFile(t, host, bytes.TrimSuffix(hostPEM, []byte("\n"))) // no final newline
	extra1 := filepath.Join(dir, "corp.pem")
	extra1PEM := testCertPEM(t, "corp")
	writeTestFile(t, extra1, concat([]byte("# the proxy's CA\n"), extra1PEM))
	extra2 := filepath.Join(dir, "other.pem")
	extra2PEM := testCertPEM(t, "other")
	writeTestFile(t, extra2, extra2PEM)
	notCert := filepath.Join(dir, "not-a-cert.pem")
	writeTestFile(t, notCert, []byte("hello"))

	ctx := context.Background()
	t.Run("host bundle alone is used in place", func(t *testing.T) {
		t.Setenv("SSL_CERT_FILE", host)
		p, cleanup, err := CABundle(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if p != host {
			t.Errorf("path = %s, want %s", p, host)
		}
		if err := cleanup(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(host); err != nil {
			t.Errorf("cleanup touched the host bundle: %v", err)
		}
	})
	t.Run("extra certificates are appended in a new file", func(t *testing.T) {
		t.Setenv("SSL_CERT_FILE", host)
		out := t.TempDir()
		p, cleanup, err := CABundle(ctx, out, extra1, extra2)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(p) != out {
			t.Errorf("bundle %s not in %s", p, out)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(concat(hostPEM, extra1PEM, extra2PEM)), string(got)); diff != "" {
			t.Errorf("bundle (-want +got):\n%s", diff)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
		}
		if err := cleanup(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("bundle left after cleanup: %v", err)
		}
	})
	t.Run("an extra file without certificates is named", func(t *testing.T) {
		t.Setenv("SSL_CERT_FILE", host)
		out := t.TempDir()
		_, _, err := CABundle(ctx, out, extra1, notCert)
		if err == nil || !strings.Contains(err.Error(), notCert) {
			t.Fatalf("error = %v, want one naming %s", err, notCert)
		}
		assertEmptyDir(t, out)
	})
	t.Run("a missing extra file is named", func(t *testing.T) {
		t.Setenv("SSL_CERT_FILE", host)
		missing := filepath.Join(dir, "missing.pem")
		_, _, err := CABundle(ctx, t.TempDir(), missing)
		if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error = %v, want one naming %s", err, missing)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Setenv("SSL_CERT_FILE", host)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := CABundle(cctx, t.TempDir(), extra1); !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
	})
}

func TestFirstRegularFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bundle.crt")
	writeTestFile(t, file, []byte("x"))
	got, err := firstRegularFile([]string{filepath.Join(dir, "missing"), dir, file})
	if err != nil {
		t.Fatal(err)
	}
	if got != file {
		t.Errorf("got %s, want %s", got, file)
	}
	if _, err := firstRegularFile([]string{filepath.Join(dir, "missing"), dir}); !errors.Is(err, ErrNoCABundle) {
		t.Errorf("error = %v, want ErrNoCABundle", err)
	}
}

func TestHostCABundle(t *testing.T) {
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "missing"))
	got, err := HostCABundle()
	if err != nil {
		t.Fatalf("this Debian host has %s: %v", HostCABundlePaths[0], err)
	}
	if got != HostCABundlePaths[0] {
		t.Errorf("HostCABundle = %s, want %s", got, HostCABundlePaths[0])
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func writeTestFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
