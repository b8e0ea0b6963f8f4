package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSubIDs(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []subIDRange
	}{{
		name: "names and numeric owners",
		in:   "alice:100000:65536\n1001:165536:65536\n",
		want: []subIDRange{{"alice", 100000, 65536}, {"1001", 165536, 65536}},
	}, {
		name: "comments, blanks and spaces",
		in:   "# ranges\n\n  bob:200000:10  \n",
		want: []subIDRange{{"bob", 200000, 10}},
	}, {
		name: "malformed lines skipped",
		in: "nocolons\n" +
			"a:1\n" +
			"a:1:2:3\n" +
			":5:5\n" +
			"c:x:5\n" +
			"d:5:-1\n" +
			"e:5:0\n" +
			"f:4294967295:2\n" +
			"g:4294967295:1\n",
		want: []subIDRange{{"g", 4294967295, 1}},
	}, {
		name: "empty",
		in:   "",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseSubIDs([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(subIDRange{})); diff != "" {
				t.Errorf("parseSubIDs (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseSubIDs(f *testing.F) {
	f.Add([]byte("alice:100000:65536\n"))
	f.Add([]byte("# c\n1001:1:1\nbad\n"))
	f.Add([]byte("x:4294967295:1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range parseSubIDs(data) {
			if r.owner == "" || strings.ContainsAny(r.owner, ":\n") {
				t.Errorf("bad owner %q", r.owner)
			}
			if r.count == 0 || uint64(r.start)+uint64(r.count) > 1<<32 {
				t.Errorf("bad range %d+%d", r.start, r.count)
			}
		}
	})
}

func TestUserNSMaps(t *testing.T) {
	s := subIDs{
		user:    "alice",
		hostUID: 1000,
		hostGID: 1000,
		uids:    []subIDRange{{"bob", 1, 1000}, {"alice", 100000, 65536}},
		gids:    []subIDRange{{"1000", 300000, 3}},
	}
	tests := []struct {
		name       string
		s          subIDs
		uid, gid   uint32
		extra      []uint32
		wantUIDs   []idMap
		wantGIDs   []idMap
		wantErr    string
		wantNoSubs bool
	}{{
		name:     "root inside: the caller's ids alone",
		s:        subIDs{user: "alice", hostUID: 1000, hostGID: 1000},
		wantUIDs: []idMap{{0, 1000, 1}},
		wantGIDs: []idMap{{0, 1000, 1}},
	}, {
		name:     "CNB user: root from the subordinate ranges",
		s:        s,
		uid:      1001,
		gid:      1002,
		wantUIDs: []idMap{{0, 100000, 1}, {1001, 1000, 1}},
		wantGIDs: []idMap{{0, 300000, 1}, {1002, 1000, 1}},
	}, {
		name:     "supplementary groups take further subordinate gids, duplicates once",
		s:        s,
		uid:      1001,
		gid:      1002,
		extra:    []uint32{1002, 44, 0, 44, 55},
		wantUIDs: []idMap{{0, 100000, 1}, {1001, 1000, 1}},
		wantGIDs: []idMap{{0, 300000, 1}, {1002, 1000, 1}, {44, 300001, 1}, {55, 300002, 1}},
	}, {
		name:     "gid 0 with supplementary groups",
		s:        s,
		extra:    []uint32{44},
		wantUIDs: []idMap{{0, 1000, 1}},
		wantGIDs: []idMap{{0, 1000, 1}, {44, 300000, 1}},
	}, {
		name:       "no subordinate uids",
		s:          subIDs{user: "alice", hostUID: 1000, hostGID: 1000, gids: s.gids},
		uid:        1001,
		gid:        1002,
		wantErr:    "running as uid 1001 needs a subordinate uid range for user alice (uid 1000) in /etc/subuid",
		wantNoSubs: true,
	}, {
		name:       "too few subordinate gids",
		s:          s,
		uid:        1001,
		gid:        1002,
		extra:      []uint32{1, 2, 3},
		wantErr:    "running as gid 1002 with 3 supplementary groups needs a range of 4 subordinate gids",
		wantNoSubs: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uids, gids, err := userNSMaps(tt.s, tt.uid, tt.gid, tt.extra)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				if errors.Is(err, ErrNoSubIDs) != tt.wantNoSubs {
					t.Errorf("errors.Is(err, ErrNoSubIDs) = %v", !tt.wantNoSubs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			opt := cmp.AllowUnexported(idMap{})
			if diff := cmp.Diff(tt.wantUIDs, uids, opt); diff != "" {
				t.Errorf("uid maps (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantGIDs, gids, opt); diff != "" {
				t.Errorf("gid maps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMapArgs(t *testing.T) {
	got := mapArgs([]idMap{{0, 100000, 1}, {1001, 1000, 1}})
	want := []string{"0", "100000", "1", "1001", "1000", "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mapArgs (-want +got):\n%s", diff)
	}
}
