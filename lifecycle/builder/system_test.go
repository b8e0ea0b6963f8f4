package builder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-build/kiln/lifecycle/descriptor"
)

func TestSystemRoundTripAndWrap(t *testing.T) {
	s := System{
		Pre:  descriptor.Group{Group: []descriptor.GroupEntry{{ID: "sys/pre", Version: "1.0.0", Optional: true}}},
		Post: descriptor.Group{Group: []descriptor.GroupEntry{{ID: "sys/post", Version: "2.0.0"}}},
	}
	data, err := encodeSystem(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSystem("system.toml", data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, data)
	}
	if b, _ := encodeSystem(System{}); b != nil {
		t.Errorf("an empty system encodes to %q", b)
	}
	order := descriptor.Order{
		{Group: []descriptor.GroupEntry{{ID: "a/go", Version: "1"}}},
		{Group: []descriptor.GroupEntry{{ID: "sys/post", Version: "2.0.0"}, {ID: "a/node", Version: "1"}}},
	}
	want := descriptor.Order{
		{Group: []descriptor.GroupEntry{{ID: "sys/pre", Version: "1.0.0", Optional: true}, {ID: "a/go", Version: "1"}, {ID: "sys/post", Version: "2.0.0"}}},
		// a system buildpack already in the group is not added again
		{Group: []descriptor.GroupEntry{{ID: "sys/pre", Version: "1.0.0", Optional: true}, {ID: "sys/post", Version: "2.0.0"}, {ID: "a/node", Version: "1"}}},
	}
	if diff := cmp.Diff(want, s.Wrap(order)); diff != "" {
		t.Errorf("Wrap (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(order, System{}.Wrap(order)); diff != "" {
		t.Errorf("an empty system changed the order:\n%s", diff)
	}
	if _, err := decodeSystem("system.toml", []byte("[system\n")); err == nil {
		t.Error("a broken system.toml was read")
	}
}

// A builder image is untrusted: its system.toml is not read through a
// link (to a host file, or to /dev/zero, which would never end), and its
// entries must be valid ids and versions.
func TestReadSystemHostile(t *testing.T) {
	mk := func(t *testing.T) string {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "cnb"), 0o755); err != nil {
			t.Fatal(err)
		}
		return root
	}
	t.Run("missing", func(t *testing.T) {
		s, err := readSystem(mk(t))
		if err != nil || len(s.Pre.Group)+len(s.Post.Group) != 0 {
			t.Errorf("readSystem = %+v, %v; want an empty System", s, err)
		}
	})
	t.Run("valid", func(t *testing.T) {
		root := mk(t)
		data := "[system.pre]\nbuildpacks = [{id = \"sys/pre\", version = \"1.0.0\"}]\n"
		if err := os.WriteFile(filepath.Join(root, "cnb", "system.toml"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := readSystem(root)
		if err != nil || len(s.Pre.Group) != 1 || s.Pre.Group[0].ID != "sys/pre" {
			t.Errorf("readSystem = %+v, %v", s, err)
		}
	})
	for name, target := range map[string]string{"host file": "", "device": "/dev/zero"} {
		t.Run(name, func(t *testing.T) {
			root := mk(t)
			if target == "" {
				target = filepath.Join(t.TempDir(), "system.toml")
				data := "[system.pre]\nbuildpacks = [{id = \"host/secret\", version = \"1\"}]\n"
				if err := os.WriteFile(target, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(target, filepath.Join(root, "cnb", "system.toml")); err != nil {
				t.Fatal(err)
			}
			if s, err := readSystem(root); err == nil {
				t.Errorf("a system.toml linking to %s was read: %+v", target, s)
			}
		})
	}
	for _, data := range []string{
		"[system.pre]\nbuildpacks = [{id = \"a b\", version = \"1\"}]\n",
		"[system.post]\nbuildpacks = [{id = \"ok\", version = \"../../x\"}]\n",
		"[system.post]\nbuildpacks = [{version = \"1\"}]\n",
	} {
		if _, err := decodeSystem("system.toml", []byte(data)); err == nil {
			t.Errorf("decodeSystem accepted %q", data)
		}
	}
}
