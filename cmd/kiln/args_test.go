package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInterspersed(t *testing.T) {
	app := newApp()
	for _, tc := range []struct{ in, want []string }{
		{
			[]string{"kiln", "build", "app", "--builder", "b", "--publish", "-e", "A=1"},
			[]string{"kiln", "build", "--builder", "b", "--publish", "-e", "A=1", "app"},
		},
		{
			[]string{"kiln", "run", "app", "-e", "X=1", "--", "ls", "-l"},
			[]string{"kiln", "run", "-e", "X=1", "app", "--", "ls", "-l"},
		},
		{
			[]string{"kiln", "build", "--path=.", "app"},
			[]string{"kiln", "build", "--path=.", "app"},
		},
		{[]string{"kiln", "images"}, []string{"kiln", "images"}},
		{[]string{"kiln", "nosuch", "x", "-y"}, []string{"kiln", "nosuch", "x", "-y"}},
	} {
		if d := cmp.Diff(tc.want, interspersed(app, tc.in)); d != "" {
			t.Errorf("interspersed(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

func TestPlatformEnv(t *testing.T) {
	t.Setenv("FROM_HOST", "h")
	got, err := platformEnv(nil, []string{"A=1", "FROM_HOST", "A=2", "B=x=y"})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"A=2", "FROM_HOST=h", "B=x=y"}, got); d != "" {
		t.Error(d)
	}
	for _, bad := range []string{"=1", "NOT_SET_ANYWHERE_XYZ", "A B=1"} {
		if _, err := platformEnv(nil, []string{bad}); err == nil {
			t.Errorf("platformEnv(%q) accepted", bad)
		}
	}
}
