package descriptor

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAPI(t *testing.T) {
	tests := []struct {
		in      string
		want    API
		wantErr bool
	}{
		{in: "0.12", want: API{0, 12}},
		{in: "1", want: API{1, 0}},
		{in: "0.7", want: API{0, 7}},
		{in: "10.300", want: API{10, 300}},
		{in: "", wantErr: true},
		{in: "0.", wantErr: true},
		{in: ".1", wantErr: true},
		{in: "0.1.2", wantErr: true},
		{in: "v0.1", wantErr: true},
		{in: "-1.0", wantErr: true},
		{in: "+1", wantErr: true},
		{in: "99999999999999999999.0", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseAPI(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseAPI(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseAPI(%q) mismatch (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestAPICompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0.12", "0.12", 0},
		{"0.9", "0.12", -1},
		{"0.12", "0.9", 1},
		{"1", "0.99", 1},
		{"1", "1.0", 0},
	}
	for _, tc := range tests {
		if got := MustParseAPI(tc.a).Compare(MustParseAPI(tc.b)); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got, want := MustParseAPI(tc.a).AtLeast(MustParseAPI(tc.b)), tc.want >= 0; got != want {
			t.Errorf("%s.AtLeast(%s) = %v, want %v", tc.a, tc.b, got, want)
		}
	}
	if got := MustParseAPI("1").String(); got != "1.0" {
		t.Errorf("String() = %q, want 1.0", got)
	}
}
