package gitref

import "strings"

// IsObjectName reports whether s is an object name: 40 (SHA-1) or 64
// (SHA-256) lower-case hex digits.
func IsObjectName(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IsZero reports whether object name s is all zeros (a ref created or
// deleted).
func IsZero(s string) bool { return strings.Trim(s, "0") == "" }

// ValidRefName is a loose version of git check-ref-format: it keeps out
// what must never pass as data.
func ValidRefName(s string) bool {
	if len(s) > 1024 || strings.Contains(s, "..") || strings.HasSuffix(s, "/") {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c == 0x7f || c == ' ' || c == '~' || c == '^' || c == ':' || c == '\\' {
			return false
		}
	}
	return true
}
