package accounts

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	group  = "root:x:0:\nusers:x:100:\nnogroup:x:65534:\n"
	shadow = "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"
	gshad  = "root:*::\nusers:*::\nnogroup:*::\n"
)

var cnb = User{Name: "cnb", UID: 1234, Group: "cnb", GID: 1235, Home: "/home/cnb", Shell: "/bin/bash"}

func TestAdd(t *testing.T) {
	tests := []struct {
		name string
		in   Files
		user User
		want Files
		err  string
	}{{
		name: "with shadow files",
		in:   Files{Passwd: []byte(passwd), Group: []byte(group), Shadow: []byte(shadow), GShadow: []byte(gshad)},
		user: cnb,
		want: Files{
			Passwd:  []byte(passwd + "cnb:x:1234:1235::/home/cnb:/bin/bash\n"),
			Group:   []byte(group + "cnb:x:1235:\n"),
			Shadow:  []byte(shadow + "cnb:!:20000:0:99999:7:::\n"),
			GShadow: []byte(gshad + "cnb:!::\n"),
		},
	}, {
		name: "without shadow files, no final newline",
		in:   Files{Passwd: []byte("root:*:0:0:root:/root:/bin/sh"), Group: []byte("root:*:0:")},
		user: cnb,
		want: Files{
			Passwd: []byte("root:*:0:0:root:/root:/bin/sh\ncnb:*:1234:1235::/home/cnb:/bin/bash\n"),
			Group:  []byte("root:*:0:\ncnb:*:1235:\n"),
		},
	}, {
		name: "existing group with the same gid is reused",
		in:   Files{Passwd: []byte(passwd), Group: []byte(group)},
		user: User{Name: "cnb", UID: 1234, Group: "users", GID: 100, Home: "/home/cnb", Shell: "/bin/sh"},
		want: Files{
			Passwd: []byte(passwd + "cnb:*:1234:100::/home/cnb:/bin/sh\n"),
			Group:  []byte(group),
		},
	}, {
		name: "identical user already present",
		in:   Files{Passwd: []byte(passwd + "cnb:x:1234:1235::/home/cnb:/bin/bash\n"), Group: []byte(group + "cnb:x:1235:\n")},
		user: cnb,
		want: Files{Passwd: []byte(passwd + "cnb:x:1234:1235::/home/cnb:/bin/bash\n"), Group: []byte(group + "cnb:x:1235:\n")},
	}, {
		name: "uid taken",
		in:   Files{Passwd: []byte(passwd), Group: []byte(group)},
		user: User{Name: "cnb", UID: 65534, Group: "cnb", GID: 1000, Home: "/home/cnb", Shell: "/bin/sh"},
		err:  "uid 65534 is already used by user nobody in /etc/passwd",
	}, {
		name: "gid taken",
		in:   Files{Passwd: []byte(passwd), Group: []byte(group)},
		user: User{Name: "cnb", UID: 1000, Group: "cnb", GID: 100, Home: "/home/cnb", Shell: "/bin/sh"},
		err:  "gid 100 is already used by group users in /etc/group",
	}, {
		name: "name taken with another uid",
		in:   Files{Passwd: []byte(passwd), Group: []byte(group)},
		user: User{Name: "nobody", UID: 1000, Group: "cnb", GID: 1000, Home: "/home/cnb", Shell: "/bin/sh"},
		err:  "user nobody already exists in /etc/passwd with uid:gid 65534:65534",
	}, {
		name: "group name taken with another gid",
		in:   Files{Passwd: []byte(passwd), Group: []byte(group)},
		user: User{Name: "cnb", UID: 1000, Group: "users", GID: 1000, Home: "/home/cnb", Shell: "/bin/sh"},
		err:  "group users already exists in /etc/group with gid 100, not 1000",
	}, {
		name: "bad name",
		in:   Files{Passwd: []byte(passwd), Group: []byte(group)},
		user: User{Name: "Cnb:x", UID: 1000, Group: "cnb", GID: 1000, Home: "/home/cnb", Shell: "/bin/sh"},
		err:  `user name "Cnb:x"`,
	}, {
		name: "malformed passwd",
		in:   Files{Passwd: []byte("root:x:0:0\n"), Group: []byte(group)},
		user: cnb,
		err:  "/etc/passwd line 1: 4 fields, want 7",
	}, {
		name: "non-numeric gid in group",
		in:   Files{Passwd: []byte(passwd), Group: []byte("root:x:zero:\n")},
		user: cnb,
		err:  `/etc/group line 1: gid "zero" is not a number`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Add(tc.in, tc.user, 20000)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Add error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(str(tc.want), str(got)); diff != "" {
				t.Errorf("Add (-want +got):\n%s", diff)
			}
		})
	}
}

// str makes Files readable in diffs.
func str(f Files) [4]string {
	return [4]string{string(f.Passwd), string(f.Group), string(f.Shadow), string(f.GShadow)}
}

func TestParse(t *testing.T) {
	users, err := ParsePasswd([]byte("# comment\n\n+nis\n" + passwd))
	if err != nil {
		t.Fatal(err)
	}
	wantUsers := []PasswdEntry{
		{Name: "root", Password: "x", UID: 0, GID: 0, Gecos: "root", Home: "/root", Shell: "/bin/bash"},
		{Name: "nobody", Password: "x", UID: 65534, GID: 65534, Gecos: "nobody", Home: "/nonexistent", Shell: "/usr/sbin/nologin"},
	}
	if diff := cmp.Diff(wantUsers, users); diff != "" {
		t.Errorf("ParsePasswd (-want +got):\n%s", diff)
	}
	groups, err := ParseGroup([]byte("adm:x:4:syslog,cnb\nroot:x:0:\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantGroups := []GroupEntry{
		{Name: "adm", Password: "x", GID: 4, Members: []string{"syslog", "cnb"}},
		{Name: "root", Password: "x", GID: 0},
	}
	if diff := cmp.Diff(wantGroups, groups); diff != "" {
		t.Errorf("ParseGroup (-want +got):\n%s", diff)
	}
}

// FuzzAdd checks that whatever the databases hold, Add either refuses them
// or leaves exactly one entry for the user with the requested IDs.
func FuzzAdd(f *testing.F) {
	f.Add(passwd, group, shadow, gshad)
	f.Add("root:*:0:0:root:/root:/bin/sh", "root:*:0:", "", "")
	f.Add("cnb:x:1234:1235::/home/cnb:/bin/bash\n", "cnb:x:1235:\n", "x", "::::")
	f.Fuzz(func(t *testing.T, p, g, s, gs string) {
		in := Files{Passwd: []byte(p), Group: []byte(g)}
		if s != "" {
			in.Shadow = []byte(s)
		}
		if gs != "" {
			in.GShadow = []byte(gs)
		}
		out, err := Add(in, cnb, 1)
		if err != nil {
			return
		}
		users, err := ParsePasswd(out.Passwd)
		if err != nil {
			t.Fatalf("output passwd does not parse: %v", err)
		}
		n := 0
		for _, u := range users {
			if u.Name == cnb.Name {
				n++
				if u.UID != cnb.UID || u.GID != cnb.GID {
					t.Fatalf("user %+v, want uid %d gid %d", u, cnb.UID, cnb.GID)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d entries for %s in %q", n, cnb.Name, out.Passwd)
		}
		groups, err := ParseGroup(out.Group)
		if err != nil {
			t.Fatalf("output group does not parse: %v", err)
		}
		found := false
		for _, gr := range groups {
			found = found || (gr.Name == cnb.Group && gr.GID == cnb.GID)
		}
		if !found {
			t.Fatalf("group %s:%d missing from %q", cnb.Group, cnb.GID, out.Group)
		}
	})
}
