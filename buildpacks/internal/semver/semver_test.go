package semver

import (
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"1.2.3", "1.2.3", false},
		{"v20.11.1", "20.11.1", false},
		{"=1.0.0-rc.1+b.5", "1.0.0-rc.1+b.5", false},
		{" 1.2.3 ", "1.2.3", false},
		{"1.2", "", true},
		{"1.2.3.4", "", true},
		{"01.2.3", "", true},
		{"1.2.3-", "", true},
		{"1.2.3-01", "", true},
		{"1.2.x", "", true},
		{"99999999999999999999.0.0", "", true},
	}
	for _, tt := range tests {
		v, err := Parse(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v", tt.in, err)
			continue
		}
		if err == nil && v.String() != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, v, tt.want)
		}
	}
}

func TestCompare(t *testing.T) {
	ordered := []string{"0.0.1", "1.0.0-0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"}
	for i := range ordered {
		for j := range ordered {
			a, b := MustParse(ordered[i]), MustParse(ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(a, b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	if Compare(MustParse("1.0.0+a"), MustParse("1.0.0+b")) != 0 {
		t.Error("build metadata takes part in comparison")
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		rng string
		in  []string
		out []string
		bad bool
	}{
		{rng: "", in: []string{"0.0.0", "20.1.0"}, out: []string{"1.0.0-rc.1"}},
		{rng: "*", in: []string{"1.2.3"}},
		{rng: "20", in: []string{"20.0.0", "20.99.1"}, out: []string{"19.9.9", "21.0.0", "21.0.0-0"}},
		{rng: "20.x", in: []string{"20.0.0", "20.11.1"}, out: []string{"21.0.0"}},
		{rng: "20.11.*", in: []string{"20.11.0", "20.11.9"}, out: []string{"20.12.0"}},
		{rng: "1.2.3", in: []string{"1.2.3", "v1.2.3"}, out: []string{"1.2.4"}},
		{rng: "=v1.2.3", in: []string{"1.2.3"}},
		{rng: ">=18", in: []string{"18.0.0", "26.1.0"}, out: []string{"17.9.9"}},
		{rng: ">= 18.17.0 <21", in: []string{"18.17.0", "20.99.0"}, out: []string{"18.16.9", "21.0.0"}},
		{rng: ">1.2", in: []string{"1.3.0"}, out: []string{"1.2.9"}},
		{rng: ">1", in: []string{"2.0.0"}, out: []string{"1.9.9"}},
		{rng: ">1.2.3", in: []string{"1.2.4"}, out: []string{"1.2.3"}},
		{rng: "<1.2", in: []string{"1.1.9"}, out: []string{"1.2.0", "1.2.0-rc.1"}},
		{rng: "<=1.2", in: []string{"1.2.9"}, out: []string{"1.3.0"}},
		{rng: "<=1.2.3", in: []string{"1.2.3"}, out: []string{"1.2.4"}},
		{rng: "<*", out: []string{"0.0.0", "1.0.0"}},
		{rng: "~1.2.3", in: []string{"1.2.3", "1.2.9"}, out: []string{"1.3.0", "1.2.2"}},
		{rng: "~1.2", in: []string{"1.2.0"}, out: []string{"1.3.0"}},
		{rng: "~1", in: []string{"1.9.0"}, out: []string{"2.0.0"}},
		{rng: "~> 1.2", in: []string{"1.2.5"}, out: []string{"1.3.0"}},
		{rng: "^1.2.3", in: []string{"1.2.3", "1.9.0"}, out: []string{"2.0.0", "1.2.2", "2.0.0-rc.1"}},
		{rng: "^0.2.3", in: []string{"0.2.9"}, out: []string{"0.3.0"}},
		{rng: "^0.0.3", in: []string{"0.0.3"}, out: []string{"0.0.4"}},
		{rng: "^0.0", in: []string{"0.0.9"}, out: []string{"0.1.0"}},
		{rng: "^0", in: []string{"0.9.0"}, out: []string{"1.0.0"}},
		{rng: "^20.11", in: []string{"20.11.0", "20.99.0"}, out: []string{"20.10.9", "21.0.0"}},
		{rng: "1.2.3 - 2.3.4", in: []string{"1.2.3", "2.3.4"}, out: []string{"2.3.5", "1.2.2"}},
		{rng: "1.2 - 2.3", in: []string{"1.2.0", "2.3.9"}, out: []string{"2.4.0"}},
		{rng: "1.2.3 - 2", in: []string{"2.9.9"}, out: []string{"3.0.0"}},
		{rng: "18.x || 20.x", in: []string{"18.1.0", "20.1.0"}, out: []string{"19.0.0", "22.0.0"}},
		{rng: "^22.22.2 || ^24.15.0 || >=26.0.0", in: []string{"22.22.2", "24.15.0", "27.0.0"}, out: []string{"22.22.1", "23.0.0", "24.14.0"}},
		{rng: ">=1.0.0-rc.1", in: []string{"1.0.0-rc.2", "1.0.0"}, out: []string{"1.0.1-rc.1"}},
		{rng: "^1.0.0-beta", in: []string{"1.0.0-beta.2", "1.5.0"}, out: []string{"1.5.0-beta"}},
		// Where npm differs from Masterminds/semver's defaults (see Range).
		{rng: ">=1.0.0-rc.1 <2", in: []string{"1.0.0-rc.2", "1.9.0"}, out: []string{"1.0.1-rc.1", "1.9.0-rc.1"}},
		{rng: "<2.0.0-rc.3 || >=3.0.0-beta", in: []string{"2.0.0-rc.2", "3.0.0-beta.1"}, out: []string{"1.0.0-rc.1", "3.1.0-beta"}},
		{rng: "1.0.0-a1-b || 1.0.0-x.1", in: []string{"1.0.0-a1-b", "1.0.0-x.1"}, out: []string{"1.0.0"}},
		{rng: "1.2.3 ||", in: []string{"1.2.3", "9.0.0"}, out: []string{"9.0.0-rc.1"}},
		{rng: ">=1.2.3, <2", bad: true},
		{rng: "!=1.2.3", bad: true},
		{rng: "v1.2-rc.1", bad: true},
		{rng: "*.1", bad: true},
		{rng: "lts/*", bad: true},
		{rng: "1.2.3.4", bad: true},
		{rng: "x.1", bad: true},
		{rng: "1.x.3", bad: true},
		{rng: "node", bad: true},
		{rng: ">=1.2-rc.1", bad: true},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.rng)
		if (err != nil) != tt.bad {
			t.Errorf("ParseRange(%q) error = %v", tt.rng, err)
			continue
		}
		if err != nil {
			continue
		}
		for _, v := range tt.in {
			if !r.Contains(MustParse(v)) {
				t.Errorf("%q does not contain %s", tt.rng, v)
			}
		}
		for _, v := range tt.out {
			if r.Contains(MustParse(v)) {
				t.Errorf("%q contains %s", tt.rng, v)
			}
		}
	}
}

func TestMaxSatisfying(t *testing.T) {
	var vs []Version
	for _, s := range []string{"18.20.8", "20.20.2", "20.9.0", "22.23.3", "24.21.0", "25.0.0-rc.1", "26.10.0"} {
		vs = append(vs, MustParse(s))
	}
	tests := []struct {
		rng, want string
	}{
		{"20", "20.20.2"},
		{">=20 <24", "22.23.3"},
		{"*", "26.10.0"},
		{"^19", ""},
		{"<18", ""},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.rng)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := MaxSatisfying(vs, r)
		if tt.want == "" {
			if ok {
				t.Errorf("MaxSatisfying(%q) = %s, want none", tt.rng, got)
			}
			continue
		}
		if !ok || got.String() != tt.want {
			t.Errorf("MaxSatisfying(%q) = %s, %v, want %s", tt.rng, got, ok, tt.want)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"^20.11", ">=18 <21 || 22.x", "1.2.3 - 2", "~> 1.2", "*", "<=1.2.3-rc.1"} {
		f.Add(s, "20.11.1")
	}
	f.Fuzz(func(t *testing.T, rng, ver string) {
		r, err := ParseRange(rng)
		if err != nil {
			return
		}
		v, err := Parse(ver)
		if err != nil {
			return
		}
		_ = r.Contains(v)
		if r2, err := ParseRange(r.String()); err != nil || r2.Contains(v) != r.Contains(v) {
			t.Fatalf("range %q does not survive a round trip: %v", rng, err)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("1.2.3-rc.1+b")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		v2, err := Parse(v.String())
		if err != nil || Compare(v, v2) != 0 || v2.String() != v.String() {
			t.Fatalf("%q -> %s does not round-trip: %v", s, v, err)
		}
	})
}
