package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestImageUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\ncnb:x:1001:1002::/home/cnb:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\ncnb:x:1002:\nstaff:x:50:\n"), 0o644)
	for _, tc := range []struct {
		user     string
		uid, gid uint32
		wantErr  bool
	}{
		{"", 0, 0, false},
		{"cnb", 1001, 1002, false},
		{"1001", 1001, 1002, false},
		{"1001:50", 1001, 50, false},
		{"cnb:staff", 1001, 50, false},
		{"4242", 4242, 4242, false},
		{"nobody", 0, 0, true},
		{"cnb:nogroup", 0, 0, true},
	} {
		uid, gid, err := imageUser(root, tc.user)
		if (err != nil) != tc.wantErr || uid != tc.uid || gid != tc.gid {
			t.Errorf("imageUser(%q) = %d:%d, %v", tc.user, uid, gid, err)
		}
	}
}
