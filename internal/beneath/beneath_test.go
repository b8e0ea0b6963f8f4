package beneath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tree makes a root with a secret outside it and the usual traps inside.
func tree(t *testing.T) (*Root, string) {
	t.Helper()
	base := t.TempDir()
	secret := filepath.Join(base, "secret")
	must(t, os.WriteFile(secret, []byte("host secret"), 0o600))
	root := filepath.Join(base, "root")
	must(t, os.MkdirAll(filepath.Join(root, "bp", "layer"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "bp", "layer.toml"), []byte("[types]\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "big"), make([]byte, 100), 0o644))
	must(t, os.Symlink(secret, filepath.Join(root, "link")))
	must(t, os.Symlink(base, filepath.Join(root, "dirlink")))
	must(t, os.Symlink("bp", filepath.Join(root, "inside")))
	must(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	return New(root, func(rel string) string { return "/layers/" + rel }), secret
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadFile(t *testing.T) {
	r, _ := tree(t)
	for _, tc := range []struct {
		rel     string
		wantErr error
		wantMsg string
	}{
		{rel: "bp/layer.toml"},
		{rel: "link", wantErr: ErrSymlink, wantMsg: "/layers/link"},
		{rel: "dirlink/secret", wantErr: ErrSymlink, wantMsg: "/layers/dirlink/secret"},
		{rel: "inside/layer.toml", wantErr: ErrSymlink},
		{rel: "fifo", wantErr: ErrNotRegular, wantMsg: "a FIFO"},
		{rel: "bp", wantErr: ErrNotRegular},
		{rel: "big", wantErr: ErrTooLarge},
		{rel: "missing", wantErr: fs.ErrNotExist},
		{rel: "../secret", wantMsg: "outside"},
		{rel: "bp/../../secret", wantMsg: "outside"},
		{rel: "/etc/passwd", wantMsg: "outside"},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			b, err := r.ReadFile(tc.rel, 50)
			if tc.wantErr == nil && tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("ReadFile: %v", err)
				}
				if string(b) != "[types]\n" {
					t.Errorf("got %q", b)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadFile(%s) succeeded with %q", tc.rel, b)
			}
			if strings.Contains(string(b), "host secret") || strings.Contains(err.Error(), "host secret") {
				t.Fatalf("secret leaked: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q lacks %q", err, tc.wantMsg)
			}
		})
	}
}

func TestReadHeadTruncates(t *testing.T) {
	r, _ := tree(t)
	b, more, err := r.ReadHead("big", 10)
	if err != nil || !more || len(b) != 10 {
		t.Fatalf("ReadHead = %d bytes, %v, %v", len(b), more, err)
	}
	if _, _, err := r.ReadHead("link", 10); !errors.Is(err, ErrSymlink) {
		t.Errorf("ReadHead of a link: %v", err)
	}
}

func TestLstatAndChecks(t *testing.T) {
	r, _ := tree(t)
	fi, err := r.Lstat("link")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Lstat(link) = %v, %v", fi, err)
	}
	if _, err := r.Lstat("dirlink/secret"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Lstat through a link: %v", err)
	}
	for rel, want := range map[string]error{
		"bp":       nil,
		"bp/layer": nil,
		"dirlink":  ErrSymlink,
		"big":      ErrNotDir,
		"nope":     fs.ErrNotExist,
	} {
		if err := r.CheckDir(rel); !errors.Is(err, want) {
			t.Errorf("CheckDir(%s) = %v, want %v", rel, err, want)
		}
	}
	for rel, want := range map[string]error{
		"bp/layer.toml": nil,
		"link":          ErrSymlink,
		"fifo":          ErrNotRegular,
		"inside/x":      ErrSymlink,
	} {
		if err := r.CheckFile(rel); !errors.Is(err, want) {
			t.Errorf("CheckFile(%s) = %v, want %v", rel, err, want)
		}
	}
}

func TestCheckShape(t *testing.T) {
	mk := func(t *testing.T, f func(root string)) *Root {
		root := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(root, "bp", "layer", "deep"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "bp", "layer.toml"), nil, 0o644))
		// Links deeper than the checked levels are content.
		must(t, os.Symlink("/etc", filepath.Join(root, "bp", "layer", "deep", "ok")))
		f(root)
		return New(root, func(rel string) string { return "/layers/" + rel })
	}
	for _, tc := range []struct {
		name, want string
		f          func(root string)
	}{
		{"clean", "", func(string) {}},
		{"symlinked buildpack dir", "/layers/evil", func(r string) { os.Symlink("/var/tmp", filepath.Join(r, "evil")) }},
		{"symlinked layer", "/layers/bp/cfg", func(r string) { os.Symlink("/root/.docker", filepath.Join(r, "bp", "cfg")) }},
		{"symlinked toml", "/layers/bp/x.toml", func(r string) { os.Symlink("/etc/shadow", filepath.Join(r, "bp", "x.toml")) }},
		{"fifo", "a FIFO", func(r string) { syscall.Mkfifo(filepath.Join(r, "group.toml"), 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mk(t, tc.f).CheckShape(2, 1000)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckShape = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	r := mk(t, func(root string) {
		for i := range 20 {
			os.WriteFile(filepath.Join(root, "bp", strings.Repeat("x", i+1)), nil, 0o644)
		}
	})
	if err := r.CheckShape(2, 10); err == nil || !strings.Contains(err.Error(), "more than 10") {
		t.Errorf("entry cap: %v", err)
	}
}

func TestWalkOpenFallback(t *testing.T) {
	r, _ := tree(t)
	noOpenat2.Store(true)
	defer noOpenat2.Store(false)
	if _, err := r.ReadFile("bp/layer.toml", 50); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"link", "dirlink/secret", "inside/layer.toml"} {
		if _, err := r.ReadFile(rel, 50); !errors.Is(err, ErrSymlink) {
			t.Errorf("fallback ReadFile(%s) = %v, want ErrSymlink", rel, err)
		}
	}
	if err := r.CheckDir("."); err != nil {
		t.Errorf("CheckDir(.) = %v", err)
	}
}

// RenameOut moves the entry itself out from beneath the root, and never
// through a link planted on the way.
func TestRenameOut(t *testing.T) {
	root, outside, dst := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{filepath.Join(root, "a", "b"), filepath.Join(outside, "x")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "x"), filepath.Join(root, "a", "lx")); err != nil {
		t.Fatal(err)
	}
	r := New(root, nil)
	if err := r.RenameOut("a/b", filepath.Join(dst, "b")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "b")); err != nil || !fi.IsDir() {
		t.Errorf("a/b did not arrive: %v %v", fi, err)
	}
	err := r.RenameOut("l/x", filepath.Join(dst, "x"))
	if !errors.Is(err, ErrSymlink) {
		t.Errorf("through a link: %v, want ErrSymlink", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err != nil {
		t.Errorf("the dir behind the link moved: %v", err)
	}
	// A link itself moves as a link; its target stays.
	if err := r.RenameOut("a/lx", filepath.Join(dst, "lx")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "lx")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("a/lx arrived as %v, %v; want the link", fi, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err != nil {
		t.Errorf("the link's target moved: %v", err)
	}
	for _, bad := range []string{".", "..", "../x"} {
		if err := r.RenameOut(bad, filepath.Join(dst, "bad")); err == nil {
			t.Errorf("RenameOut(%q) moved something", bad)
		}
	}
}

func TestReadDir(t *testing.T) {
	r, _ := tree(t)
	entries, err := r.ReadDir(".", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name()+":"+e.Type().String())
	}
	want := "big:----------,bp:d---------,dirlink:L---------,fifo:p---------,inside:L---------,link:L---------"
	if strings.Join(got, ",") != want {
		t.Errorf("ReadDir(.) = %s\nwant %s (links listed, not followed)", strings.Join(got, ","), want)
	}
	for _, tc := range []struct {
		rel  string
		max  int
		want string
	}{
		{rel: ".", max: 5, want: "more than 5 entries"},
		{rel: "dirlink", max: 10, want: ErrSymlink.Error()},
		{rel: "inside", max: 10, want: ErrSymlink.Error()},
		{rel: "big", max: 10, want: ErrNotDir.Error()},
		{rel: "../", max: 10, want: "outside"},
		{rel: "nope", max: 10, want: fs.ErrNotExist.Error()},
	} {
		if _, err := r.ReadDir(tc.rel, tc.max); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadDir(%s, %d) = %v, want an error saying %q", tc.rel, tc.max, err, tc.want)
		}
	}
}
