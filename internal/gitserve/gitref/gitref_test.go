package gitref

import (
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, c := range []struct {
		s   string
		obj bool
	}{
		{strings.Repeat("a", 40), true}, {strings.Repeat("0", 64), true},
		{strings.Repeat("A", 40), false}, {strings.Repeat("a", 39), false}, {"", false},
	} {
		if IsObjectName(c.s) != c.obj {
			t.Errorf("IsObjectName(%q) = %v", c.s, !c.obj)
		}
	}
	for _, c := range []struct {
		s  string
		ok bool
	}{
		{"refs/heads/main", true}, {"refs/heads/a..b", false}, {"refs/heads/", false},
		{"refs/heads/a b", false}, {"refs/heads/a\nb", false}, {"refs/heads/a:b", false}, {"refs/heads/~", false},
	} {
		if ValidRefName(c.s) != c.ok {
			t.Errorf("ValidRefName(%q) = %v", c.s, !c.ok)
		}
	}
	if !IsZero(strings.Repeat("0", 40)) || IsZero(strings.Repeat("0", 39)+"1") {
		t.Error("IsZero")
	}
}
