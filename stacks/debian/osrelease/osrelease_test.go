package osrelease

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
		err  string
	}{{
		name: "debian bookworm",
		in: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`,
		want: map[string]string{
			"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "NAME": "Debian GNU/Linux",
			"VERSION_ID": "12", "VERSION_CODENAME": "bookworm", "ID": "debian",
			"HOME_URL": "https://www.debian.org/",
		},
	}, {
		name: "comments, single quotes, escapes, empty value",
		in:   "# hi\n\n  ID='debian'\nNAME=\"say \\\"hi\\\" \\\\ \\$x\"\nVARIANT=\n",
		want: map[string]string{"ID": "debian", "NAME": `say "hi" \ $x`, "VARIANT": ""},
	}, {
		name: "no equals",
		in:   "ID debian\n",
		err:  "line 1: want KEY=value",
	}, {
		name: "bad key",
		in:   "1ID=x\n",
		err:  "want KEY=value",
	}, {
		name: "unterminated",
		in:   "ID=\"debian\n",
		err:  "line 1: ID: unbalanced double quotes",
	}, {
		name: "text after quote",
		in:   "ID=\"a\"b\n",
		err:  "text after closing quote",
	}, {
		name: "unquoted space",
		in:   "NAME=Debian GNU\n",
		err:  "shell special characters",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte("NAME='x'\n# c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		for k := range m {
			if !keyPattern.MatchString(k) {
				t.Fatalf("bad key %q accepted", k)
			}
		}
	})
}
