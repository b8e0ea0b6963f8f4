package sandbox

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoCABundle is returned when the host has no CA bundle in any of the
// known places and no extra certificates were given.
var ErrNoCABundle = errors.New("no CA bundle found on the host")

// HostCABundlePaths lists where Linux distributions keep the system CA bundle,
// in the order HostCABundle tries them.
var HostCABundlePaths = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Arch, Alpine, Gentoo
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL, CentOS
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL, CentOS (extracted)
	"/etc/ssl/ca-bundle.pem",                            // openSUSE, SLES
	"/etc/ssl/cert.pem",                                 // Alpine (LibreSSL), some BSD-style layouts
	"/etc/pki/tls/cacert.pem",                           // older OpenELEC-style layouts
}

// HostCABundle returns the host's CA bundle: the file named by the
// SSL_CERT_FILE variable of the calling process if it exists, else the first
// existing entry of HostCABundlePaths. It returns an error wrapping
// ErrNoCABundle when there is none.
func HostCABundle() (string, error) {
	var candidates []string
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		candidates = append(candidates, f)
	}
	return firstRegularFile(append(candidates, HostCABundlePaths...))
}

func firstRegularFile(paths []string) (string, error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("looking for the host CA bundle in %v: %w", paths, ErrNoCABundle)
}

// CABundle returns the CA bundle to put into Config.CABundle: the host's
// bundle (see HostCABundle) followed by the certificates of each extra PEM
// file (kiln's --ca-cert).
//
// Without extra files it returns the host bundle's path itself and a no-op
// cleanup. Otherwise it writes a new file in dir (os.TempDir() if empty),
// readable by everyone since it holds only public certificates, and cleanup
// removes it. Each extra file must hold at least one PEM certificate; blocks
// that are not certificates are left out. When the host has no bundle, the
// extra certificates alone make the bundle; with neither, the error wraps
// ErrNoCABundle.
func CABundle(ctx context.Context, dir string, extra ...string) (path string, cleanup func() error, err error) {
	noop := func() error { return nil }
	host, hostErr := HostCABundle()
	if len(extra) == 0 {
		if hostErr != nil {
			return "", noop, hostErr
		}
		return host, noop, nil
	}
	var buf bytes.Buffer
	if hostErr == nil {
		b, err := os.ReadFile(host)
		if err != nil {
			return "", noop, fmt.Errorf("reading host CA bundle %s: %w", host, err)
		}
		buf.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	for _, p := range extra {
		if err := ctx.Err(); err != nil {
			return "", noop, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", noop, fmt.Errorf("reading CA certificate file %s: %w", p, err)
		}
		certs, err := certificatesPEM(b)
		if err != nil {
			return "", noop, fmt.Errorf("reading CA certificate file %s: %w", p, err)
		}
		buf.Write(certs)
	}
	f, err := os.CreateTemp(dir, "kiln-ca-*.crt")
	if err != nil {
		return "", noop, fmt.Errorf("creating CA bundle: %w", err)
	}
	name := f.Name()
	cleanup = func() error {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing CA bundle %s: %w", name, err)
		}
		return nil
	}
	_, werr := f.Write(buf.Bytes())
	if werr == nil {
		werr = f.Chmod(0o644)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = cleanup()
		return "", noop, fmt.Errorf("writing CA bundle %s: %w", name, werr)
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		_ = cleanup()
		return "", noop, fmt.Errorf("resolving CA bundle %s: %w", name, err)
	}
	return abs, cleanup, nil
}

// certificatesPEM returns the CERTIFICATE blocks of a PEM file, re-encoded,
// after checking each parses as an X.509 certificate. Other blocks (keys,
// CRLs) and text between blocks are dropped. It fails when a certificate
// block does not parse or when there is no certificate at all.
func certificatesPEM(data []byte) ([]byte, error) {
	var out bytes.Buffer
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}); err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out.Bytes(), nil
}
