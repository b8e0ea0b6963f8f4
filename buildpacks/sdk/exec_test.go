package sdk

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"PATH=/bin", "HOME=/h", "X=1"}, map[string]string{"PATH": "/n/bin:/bin", "A": "b"})
	want := []string{"HOME=/h", "X=1", "A=b", "PATH=/n/bin:/bin"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
