package launchcheck

import (
	"debug/elf"
	"fmt"
	"path"
	"strings"
)

// script checks the #! line of the script p: its interpreter must be in
// the image and runnable, and with /usr/bin/env, the program env runs
// must be on PATH. kiln-exec (viaExec) runs "#!/usr/bin/env X" scripts
// with X from PATH itself when the image has no env.
func (c *checker) script(p, head string, viaExec bool, depth int) bool {
	line, _, _ := strings.Cut(head[2:], "\n")
	line = strings.TrimSpace(line)
	interp, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	if interp == "" {
		c.fail(p+" starts with #! and names no interpreter", "put the interpreter's path on its first line")
		return false
	}
	envProg := ""
	if path.Base(interp) == "env" {
		envProg = envTarget(arg)
	}
	ip, in, err := c.v.resolve(interp)
	if err == nil && in.kind == missing {
		if envProg != "" && viaExec {
			return c.program(envProg, false)
		}
		fix := fmt.Sprintf("use a run image that has %s, or run the script through its interpreter in the process command", interp)
		if envProg != "" {
			fix = fmt.Sprintf("run it with its interpreter: make the command `%s %s ...` (the run image has no %s)", envProg, p, interp)
		}
		c.fail(fmt.Sprintf("%s starts with `#!%s`, and the image has no %s", p, line, interp), "%s", fix)
		return false
	}
	if !c.exec(ip, in, false, depth+1) {
		return false
	}
	if envProg != "" {
		return c.program(envProg, false)
	}
	return true
}

// envTarget is the program "#!/usr/bin/env [-S] prog args" runs.
func envTarget(arg string) string {
	for _, w := range strings.Fields(arg) {
		if strings.HasPrefix(w, "-") || strings.Contains(w, "=") {
			continue
		}
		return w
	}
	return ""
}

// elf checks an ELF program or library p (host file host): its dynamic
// loader and the libraries it needs, and theirs when they are in a launch
// layer.
func (c *checker) elf(p, host string) bool {
	if c.seen[p] {
		return true
	}
	c.seen[p] = true
	f, err := elf.Open(host)
	if err != nil {
		c.fail(fmt.Sprintf("%s cannot be read as an ELF program: %v", p, err), "rebuild it for this platform")
		return false
	}
	defer f.Close()
	ok := true
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		buf := make([]byte, min(prog.Filesz, 4096))
		if _, err := prog.ReadAt(buf, 0); err != nil {
			continue
		}
		interp := strings.TrimRight(string(buf), "\x00")
		if _, n, err := c.v.resolve(interp); err == nil && n.kind == missing {
			c.fail(fmt.Sprintf("%s needs the dynamic loader %s, which the run image lacks", p, interp),
				"use a run image with the C library, or build the program statically")
			ok = false
		}
	}
	needed, _ := f.DynString(elf.DT_NEEDED)
	if len(needed) == 0 {
		return ok
	}
	rpath, _ := f.DynString(elf.DT_RPATH)
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	dirs := c.libDirs(path.Dir(p), rpath, runpath, f.Machine)
	for _, lib := range needed {
		lp, n := c.findLib(lib, dirs)
		switch {
		case n.kind == missing:
			c.fail(fmt.Sprintf("%s needs %s, which neither the run image nor a launch layer has", p, lib),
				"add the package that provides %s to a launch layer's lib/ (the buildpack that installed %s should), or use a run image that has it", lib, path.Base(p))
			ok = false
		case n.host != "" && strings.HasPrefix(string(readHeadOr(n.host)), "\x7fELF"):
			ok = c.elf(lp, n.host) && ok
		}
	}
	return ok
}

func readHeadOr(host string) string {
	h, _ := readHead(host)
	return h
}

// libDirs are the directories the dynamic loader searches, in its order:
// DT_RPATH (without DT_RUNPATH), LD_LIBRARY_PATH, DT_RUNPATH, then the
// system's.
func (c *checker) libDirs(origin string, rpath, runpath []string, m elf.Machine) []string {
	expand := func(list []string) []string {
		var out []string
		for _, l := range list {
			for _, d := range strings.Split(l, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				if path.IsAbs(d) {
					out = append(out, d)
				}
			}
		}
		return out
	}
	var dirs []string
	if len(runpath) == 0 {
		dirs = append(dirs, expand(rpath)...)
	}
	for _, d := range c.ldPath {
		if path.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, expand(runpath)...)
	return append(dirs, systemLibDirs(m)...)
}

// systemLibDirs are the library dirs of a Debian-style system for
// machine m (ld.so.conf's multiarch dirs and the defaults).
func systemLibDirs(m elf.Machine) []string {
	triple := map[elf.Machine]string{
		elf.EM_X86_64: "x86_64-linux-gnu", elf.EM_AARCH64: "aarch64-linux-gnu",
		elf.EM_ARM: "arm-linux-gnueabihf", elf.EM_PPC64: "powerpc64le-linux-gnu",
		elf.EM_S390: "s390x-linux-gnu", elf.EM_RISCV: "riscv64-linux-gnu", elf.EM_386: "i386-linux-gnu",
	}[m]
	dirs := []string{"/usr/local/lib"}
	if triple != "" {
		dirs = append(dirs, "/lib/"+triple, "/usr/lib/"+triple)
	}
	return append(dirs, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// findLib returns where the loader finds lib, or a missing node.
func (c *checker) findLib(lib string, dirs []string) (string, node) {
	if strings.Contains(lib, "/") {
		p, n, _ := c.v.resolve(lib)
		return p, n
	}
	for _, d := range dirs {
		p, n, err := c.v.resolve(path.Join(d, lib))
		if err == nil && (n.kind == file || n.kind == unknown) {
			return p, n
		}
	}
	return "", node{}
}

// firstWord is the program a kiln-exec command line runs first, or ""
// when that needs a shell to know (expansions, quotes, keywords).
func firstWord(line string) string {
	for _, w := range strings.Fields(line) {
		if strings.ContainsAny(w, "$`'\"\\(){};|&<>*?[]~") {
			return ""
		}
		if i := strings.IndexByte(w, '='); i > 0 && !strings.Contains(w[:i], "/") {
			continue // an assignment
		}
		switch w {
		case "exec", "command", "nohup":
			continue
		case "cd", "export", ".", "source", "set", "if", "for", "while", "case", "test", "eval", "!", "time":
			return ""
		}
		return w
	}
	return ""
}
