package descriptor

import (
	"strings"
	"testing"
)

// Ids and versions name directories on the host: nothing that walks out of
// one may pass.
func TestIDsAndVersionsStayPathComponents(t *testing.T) {
	for _, tc := range []struct {
		id, version string
		ok          bool
	}{
		{"kiln/go", "1.2.3", true},
		{"paketo-buildpacks/node-engine", "3.1.0-rc.1+build.5", true},
		{"a.b", "0.0.1~dev_2", true},
		{"..", "1.0.0", false},
		{".", "1.0.0", false},
		{"a/../b", "1.0.0", false},
		{"a//b", "1.0.0", false},
		{"/abs", "1.0.0", false},
		{"trailing/", "1.0.0", false},
		{".hidden", "1.0.0", false},
		{strings.Repeat("x", MaxIDLength+1), "1.0.0", false},
		{"ok", "../../../../tmp/x", false},
		{"ok", "1.0/../x", false},
		{"ok", "..", false},
		{"ok", ".1", false},
		{"ok", "1\n2", false},
		{"ok", "1.0\x00", false},
		{"ok", "", false},
		{"ok", strings.Repeat("1", MaxVersionLength+1), false},
	} {
		err := ValidateID(tc.id)
		if err == nil {
			err = ValidateVersion(tc.version)
		}
		if (err == nil) != tc.ok {
			t.Errorf("id %q version %q: err = %v, want ok=%v", tc.id, tc.version, err, tc.ok)
		}
		data := "[[group]]\nid = " + quote(tc.id) + "\nversion = " + quote(tc.version) + "\napi = \"0.10\"\n"
		if _, err := DecodeGroup("group.toml", []byte(data)); (err == nil) != tc.ok {
			t.Errorf("group.toml with id %q version %q: err = %v, want ok=%v", tc.id, tc.version, err, tc.ok)
		}
	}
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString("\\" + string(r))
		case r < 0x20:
			b.WriteString("\\u00")
			b.WriteString(string("0123456789abcdef"[r>>4]))
			b.WriteString(string("0123456789abcdef"[r&15]))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
