package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestServerProcess builds the server, runs it on a free $PORT and checks
// that it serves the site and stops cleanly on SIGTERM.
func TestServerProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kiln-static")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	site := t.TempDir()
	os.WriteFile(filepath.Join(site, "index.html"), []byte("hello static"), 0o644)
	os.WriteFile(filepath.Join(site, "404.html"), []byte("gone"), 0o644)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-root", site, "-quiet")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(url + "/"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server did not answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello static" {
		t.Errorf("GET / = %d %q", resp.StatusCode, b)
	}
	resp, err = http.Get(url + "/missing")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(b) != "gone" {
		t.Errorf("GET /missing = %d %q", resp.StatusCode, b)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("server did not stop after SIGTERM")
	}
}
