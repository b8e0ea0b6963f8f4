package workspace

import (
	"bytes"
	"testing"
)

// FuzzManifest: no input makes the decoder panic, and what it accepts
// encodes back to the same bytes.
func FuzzManifest(f *testing.F) {
	m := NewManifest()
	m.put(".", srcFP{Mode: 0o40755}, wsFP{Mode: 0o40755})
	m.put("a/b", srcFP{Mode: 0o100644, Size: 3}, wsFP{Mode: 0o100644, Nlink: 1})
	b, _ := m.MarshalBinary()
	f.Add(b)
	f.Add([]byte(manifestMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := NewManifest()
		if err := got.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := got.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("accepted %x, re-encodes to %x (%v)", data, again, err)
		}
	})
}
