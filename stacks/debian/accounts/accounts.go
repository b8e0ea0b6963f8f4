package accounts

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// PasswdEntry is one line of /etc/passwd.
type PasswdEntry struct {
	Name, Password string
	UID, GID       int
	Gecos          string
	Home, Shell    string
}

// GroupEntry is one line of /etc/group.
type GroupEntry struct {
	Name, Password string
	GID            int
	Members        []string
}

// User is an account to add.
type User struct {
	Name  string
	UID   int
	Group string // name of the primary group
	GID   int
	Home  string
	Shell string
}

// Files holds the account databases. A nil Shadow or GShadow means the
// file does not exist and is left alone.
type Files struct {
	Passwd, Group, Shadow, GShadow []byte
}

// namePattern is the portable subset of names Debian's adduser accepts.
var namePattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// maxID is the largest ID that is neither (uid_t)-1 nor out of range.
const maxID = 1<<32 - 2

// ValidName reports whether s is usable as a user or group name.
func ValidName(s string) bool { return namePattern.MatchString(s) }

// lines yields the fields of each account line, skipping blank lines,
// comments and NIS compatibility entries ("+" and "-" lines).
func lines(data []byte, file string, nfields int, fn func(lineNo int, f []string) error) error {
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != nfields {
			return fmt.Errorf("%s line %d: %d fields, want %d", file, i+1, len(f), nfields)
		}
		if err := fn(i+1, f); err != nil {
			return err
		}
	}
	return nil
}

func parseID(s, file string, lineNo int, what string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s line %d: %s %q is not a number", file, lineNo, what, s)
	}
	return int(n), nil
}

// ParsePasswd parses /etc/passwd.
func ParsePasswd(data []byte) ([]PasswdEntry, error) {
	var out []PasswdEntry
	err := lines(data, "/etc/passwd", 7, func(n int, f []string) error {
		uid, err := parseID(f[2], "/etc/passwd", n, "uid")
		if err != nil {
			return err
		}
		gid, err := parseID(f[3], "/etc/passwd", n, "gid")
		if err != nil {
			return err
		}
		out = append(out, PasswdEntry{Name: f[0], Password: f[1], UID: uid, GID: gid, Gecos: f[4], Home: f[5], Shell: f[6]})
		return nil
	})
	return out, err
}

// ParseGroup parses /etc/group.
func ParseGroup(data []byte) ([]GroupEntry, error) {
	var out []GroupEntry
	err := lines(data, "/etc/group", 4, func(n int, f []string) error {
		gid, err := parseID(f[2], "/etc/group", n, "gid")
		if err != nil {
			return err
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, GroupEntry{Name: f[0], Password: f[1], GID: gid, Members: members})
		return nil
	})
	return out, err
}

// names returns the first fields of a colon-separated database.
func names(data []byte, file string, nfields int) (map[string]bool, error) {
	seen := map[string]bool{}
	err := lines(data, file, nfields, func(_ int, f []string) error {
		seen[f[0]] = true
		return nil
	})
	return seen, err
}

// Add returns the databases with u and its primary group added.
//
// A group or user that already exists with exactly the requested name and
// ID is kept as it is; a name taken with another ID, or an ID taken by
// another name, is an error. New shadow entries are locked ("!") and carry
// lastChange (days since 1970-01-01) as the date of the last password
// change.
func Add(in Files, u User, lastChange int) (Files, error) {
	if !ValidName(u.Name) {
		return in, fmt.Errorf("user name %q: want a lower-case letter or _, then up to 31 of a-z 0-9 _ -", u.Name)
	}
	if !ValidName(u.Group) {
		return in, fmt.Errorf("group name %q: want a lower-case letter or _, then up to 31 of a-z 0-9 _ -", u.Group)
	}
	if u.UID < 0 || u.UID > maxID || u.GID < 0 || u.GID > maxID {
		return in, fmt.Errorf("user %s: uid %d / gid %d out of range", u.Name, u.UID, u.GID)
	}
	if strings.ContainsAny(u.Home+u.Shell, ":\n") || !strings.HasPrefix(u.Home, "/") || !strings.HasPrefix(u.Shell, "/") {
		return in, fmt.Errorf("user %s: home %q and shell %q must be absolute paths without ':'", u.Name, u.Home, u.Shell)
	}
	out := in

	groups, err := ParseGroup(in.Group)
	if err != nil {
		return in, err
	}
	addGroup := true
	for _, g := range groups {
		switch {
		case g.Name == u.Group && g.GID == u.GID:
			addGroup = false
		case g.Name == u.Group:
			return in, fmt.Errorf("group %s already exists in /etc/group with gid %d, not %d", g.Name, g.GID, u.GID)
		case g.GID == u.GID:
			return in, fmt.Errorf("gid %d is already used by group %s in /etc/group", g.GID, g.Name)
		}
	}

	users, err := ParsePasswd(in.Passwd)
	if err != nil {
		return in, err
	}
	addUser := true
	for _, p := range users {
		switch {
		case p.Name == u.Name && p.UID == u.UID && p.GID == u.GID:
			addUser = false
		case p.Name == u.Name:
			return in, fmt.Errorf("user %s already exists in /etc/passwd with uid:gid %d:%d, not %d:%d", p.Name, p.UID, p.GID, u.UID, u.GID)
		case p.UID == u.UID:
			return in, fmt.Errorf("uid %d is already used by user %s in /etc/passwd", p.UID, p.Name)
		}
	}

	if addGroup {
		pw := "*"
		if in.GShadow != nil {
			pw = "x"
		}
		out.Group = appendLine(in.Group, fmt.Sprintf("%s:%s:%d:", u.Group, pw, u.GID))
		if in.GShadow != nil {
			seen, err := names(in.GShadow, "/etc/gshadow", 4)
			if err != nil {
				return in, err
			}
			if !seen[u.Group] {
				out.GShadow = appendLine(in.GShadow, u.Group+":!::")
			}
		}
	}
	if addUser {
		pw := "*"
		if in.Shadow != nil {
			pw = "x"
		}
		out.Passwd = appendLine(in.Passwd, fmt.Sprintf("%s:%s:%d:%d::%s:%s", u.Name, pw, u.UID, u.GID, u.Home, u.Shell))
		if in.Shadow != nil {
			seen, err := names(in.Shadow, "/etc/shadow", 9)
			if err != nil {
				return in, err
			}
			if !seen[u.Name] {
				out.Shadow = appendLine(in.Shadow, fmt.Sprintf("%s:!:%d:0:99999:7:::", u.Name, lastChange))
			}
		}
	}
	return out, nil
}

func appendLine(data []byte, line string) []byte {
	out := bytes.Clone(data)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(append(out, line...), '\n')
}
