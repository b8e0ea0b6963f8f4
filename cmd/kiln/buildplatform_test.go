package main

import (
	"bytes"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestPlatformTag(t *testing.T) {
	arm := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	for _, tc := range []struct{ in, want string }{
		{"reg.example/app/cache:latest", "reg.example/app/cache:latest-arm64v8"},
		{"reg.example/app/cache", "reg.example/app/cache:latest-arm64v8"},
	} {
		if got := platformTag(tc.in, arm); got != tc.want {
			t.Errorf("platformTag(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &prefixWriter{prefix: "[linux/arm64] ", w: &buf}
	for _, s := range []string{"one\ntw", "o\n", "three"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if got, want := buf.String(), "[linux/arm64] one\n[linux/arm64] two\n[linux/arm64] three\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
