// Command probe reports what a process sees from inside the sandbox. The
// tests build it statically into a temporary root file system.
//
//	probe id                 uid=U gid=G groups=A B
//	probe caps               the capability and NoNewPrivs lines of /proc/self/status
//	probe write PATH TEXT    write TEXT to PATH (exit 3 and the error on stderr on failure)
//	probe mode PATH          permission bits of PATH in octal, with sticky/setid bits
//	probe owner PATH         uid:gid of PATH
//	probe kind PATH          file type of PATH: dir, file, char device, ...
//	probe getenv NAME...     NAME=value for each
//	probe pwd                working directory
//	probe hostname           host name
//	probe cat PATH           contents of PATH
//	probe get URL            print the body of an HTTP(S) GET of URL
//	probe dial ADDR...       "ADDR ok" or "ADDR error: ..." for a TCP connection to each
//	probe netns              the network namespace, as /proc/self/ns/net names it
//	probe reopen             write through freshly opened /dev/stdout and /dev/stderr
//	probe exit N             print "out" to stdout, "err" to stderr, exit N
//	probe sleep TOKEN        print "sleeping TOKEN" and sleep until killed
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe COMMAND ARGS...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "id":
		groups, err := os.Getgroups()
		if err != nil {
			fail(err.Error())
		}
		var gs []string
		for _, g := range groups {
			gs = append(gs, strconv.Itoa(g))
		}
		fmt.Printf("uid=%d gid=%d groups=%s\n", os.Getuid(), os.Getgid(), strings.Join(gs, " "))
	case "caps":
		f, err := os.Open("/proc/self/status")
		if err != nil {
			fail(err.Error())
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "Cap") || strings.HasPrefix(l, "NoNewPrivs") {
				fmt.Println(strings.Join(strings.Fields(l), " "))
			}
		}
	case "write":
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	case "mode":
		var st syscall.Stat_t
		if err := syscall.Stat(args[0], &st); err != nil {
			fail(err.Error())
		}
		fmt.Printf("%o\n", st.Mode&0o7777)
	case "owner":
		var st syscall.Stat_t
		if err := syscall.Stat(args[0], &st); err != nil {
			fail(err.Error())
		}
		fmt.Printf("%d:%d\n", st.Uid, st.Gid)
	case "kind":
		fi, err := os.Stat(args[0])
		if err != nil {
			fail(err.Error())
		}
		switch m := fi.Mode(); {
		case m.IsDir():
			fmt.Println("dir")
		case m.IsRegular():
			fmt.Println("file")
		case m&os.ModeCharDevice != 0:
			fmt.Println("char device")
		default:
			fmt.Println(m.Type())
		}
	case "getenv":
		for _, k := range args {
			fmt.Printf("%s=%s\n", k, os.Getenv(k))
		}
	case "pwd":
		wd, err := os.Getwd()
		if err != nil {
			fail(err.Error())
		}
		fmt.Println(wd)
	case "hostname":
		h, err := os.Hostname()
		if err != nil {
			fail(err.Error())
		}
		fmt.Println(h)
	case "cat":
		b, err := os.ReadFile(args[0])
		if err != nil {
			fail(err.Error())
		}
		os.Stdout.Write(b)
	case "get":
		resp, err := http.Get(args[0])
		if err != nil {
			fail(err.Error())
		}
		defer resp.Body.Close()
		if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
			fail(err.Error())
		}
	case "dial":
		for _, a := range args {
			c, err := net.DialTimeout("tcp", a, 3*time.Second)
			if err != nil {
				fmt.Printf("%s error: %v\n", a, err)
				continue
			}
			c.Close()
			fmt.Printf("%s ok\n", a)
		}
	case "netns":
		l, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			fail(err.Error())
		}
		fmt.Println(l)
	case "reopen":
		for _, p := range []string{"/dev/stdout", "/dev/stderr"} {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				fail(err.Error())
			}
			fmt.Fprintf(f, "via %s\n", p)
			f.Close()
		}
	case "exit":
		n, err := strconv.Atoi(args[0])
		if err != nil {
			fail(err.Error())
		}
		fmt.Println("out")
		fmt.Fprintln(os.Stderr, "err")
		os.Exit(n)
	case "sleep":
		fmt.Println("sleeping", args[0])
		for {
			time.Sleep(time.Hour)
		}
	default:
		fail("unknown command " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "probe:", msg)
	os.Exit(2)
}
