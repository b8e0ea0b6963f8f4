package launchcheck

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// kind is what a path of the image is.
type kind int

const (
	missing kind = iota
	file
	dir
	symlink
	// unknown is a path the check cannot see (a launch layer whose
	// contents the exporter takes from the previous image): trusted.
	unknown
)

// node is one path of the image as the view sees it.
type node struct {
	kind kind
	mode fs.FileMode
	link string
	// host is the file's path on the host, for files of launch layers and
	// the app dir; "" for run image files.
	host string
}

// view is the app image's file system: the run image's index, with the
// launch layers under LayersPath and the app under AppPath read from the
// host.
type view struct {
	run                 Index
	layersPath, appPath string
	layersDir, appDir   string
	// launchLayers are the "<bp>/<layer>" dirs the image gets; unseen
	// those it gets without their contents being here.
	launchLayers, unseen map[string]bool
}

// lstat returns what the image has at the clean absolute path p, without
// following a final symbolic link.
func (v *view) lstat(p string) node {
	if rel, ok := under(p, v.layersPath); ok {
		return v.layerNode(rel)
	}
	if rel, ok := under(p, v.appPath); ok {
		return hostNode(filepath.Join(v.appDir, filepath.FromSlash(rel)))
	}
	e, ok := v.run[strings.TrimPrefix(p, "/")]
	if !ok {
		if p == "/" {
			return node{kind: dir}
		}
		return node{}
	}
	switch e.Type {
	case 'd':
		return node{kind: dir, mode: e.mode()}
	case 'l':
		return node{kind: symlink, link: e.Link}
	}
	return node{kind: file, mode: e.mode()}
}

// layerNode is the path rel under the layers dir: only launch layers
// (and the dirs leading to them) are in the image.
func (v *view) layerNode(rel string) node {
	if rel == "" {
		return node{kind: dir, mode: 0o755}
	}
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) == 1 {
		return hostNode(filepath.Join(v.layersDir, parts[0]))
	}
	key := parts[0] + "/" + parts[1]
	if v.unseen[key] {
		return node{kind: unknown}
	}
	if !v.launchLayers[key] {
		return node{}
	}
	return hostNode(filepath.Join(v.layersDir, filepath.FromSlash(rel)))
}

func hostNode(p string) node {
	fi, err := os.Lstat(p)
	if err != nil {
		return node{}
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(p)
		if err != nil {
			return node{}
		}
		return node{kind: symlink, link: t, host: p}
	case fi.IsDir():
		return node{kind: dir, mode: fi.Mode().Perm(), host: p}
	case fi.Mode().IsRegular():
		return node{kind: file, mode: fi.Mode().Perm(), host: p}
	}
	return node{}
}

// errLoop is a path with too many symbolic links.
var errLoop = errors.New("too many levels of symbolic links")

// resolve follows symbolic links in every component of p, as the kernel
// does, and returns the final path and what it is. A missing component
// gives kind missing; a component the view cannot see gives unknown.
func (v *view) resolve(p string) (string, node, error) {
	links := 0
	cur := "/"
	rest := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		n := v.lstat(next)
		switch n.kind {
		case missing, unknown:
			return next, n, nil
		case symlink:
			if links++; links > 40 {
				return next, node{}, errLoop
			}
			t := n.link
			if !strings.HasPrefix(t, "/") {
				t = path.Join(cur, t)
			}
			cur = "/"
			rest = append(strings.Split(strings.Trim(path.Clean(t), "/"), "/"), rest...)
			continue
		case file:
			if len(rest) > 0 {
				return next, node{}, nil
			}
		}
		cur = next
	}
	return cur, v.lstat(cur), nil
}

// under reports whether p is root or below it, and the rest of p.
func under(p, root string) (string, bool) {
	if p == root {
		return "", true
	}
	rel, ok := strings.CutPrefix(p, root+"/")
	return rel, ok
}
