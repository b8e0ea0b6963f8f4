package failure

import (
	"errors"
	"fmt"
	"testing"
)

func TestCode(t *testing.T) {
	base := errors.New("boom")
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain", base, Generic},
		{"phase", New("export", ExportError, base), ExportError},
		{"wrapped", fmt.Errorf("building app: %w", New("build", BuildpackFailed, base)), BuildpackFailed},
		{"first code wins", New("export", ExportError, New("detect", DetectNoGroup, base)), DetectNoGroup},
	} {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("%s: Code = %d, want %d", tc.name, got, tc.want)
		}
	}
	if New("x", 1, nil) != nil {
		t.Error("New with nil error is not nil")
	}
	if got := New("export", ExportError, base).Error(); got != "export: boom" {
		t.Errorf("Error() = %q", got)
	}
}
