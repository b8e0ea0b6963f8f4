//go:build acceptance

package acceptance

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// registry is a docker-registry process serving on 127.0.0.1.
type registry struct {
	Host string // 127.0.0.1:port
	cmd  *exec.Cmd
	dir  string

	mu      sync.Mutex
	uploads int // finished blob uploads seen in the log
}

// startRegistry starts Debian's docker-registry with storage under dir.
func startRegistry(dir string) (*registry, error) { return startRegistryWith(dir, "") }

// startRegistryWith starts docker-registry with extra top-level YAML
// sections in its config (e.g. auth).
func startRegistryWith(dir, extra string) (*registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (make deps installs it): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "data"), host, extra)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	r := &registry{Host: host, dir: dir}
	r.cmd = exec.Command(bin, "serve", cfgPath)
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	r.cmd.Stdout = r.cmd.Stderr
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting docker-registry: %w", err)
	}
	// A blob upload finishes with a PUT to .../blobs/uploads/<uuid>?digest=...
	upload := regexp.MustCompile(`"PUT /v2/[^"]*/blobs/uploads/[^"]*digest=`)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if upload.MatchString(line) && strings.Contains(line, "\" 201 ") {
				r.mu.Lock()
				r.uploads++
				r.mu.Unlock()
			}
		}
		logf.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			r.Stop()
			return nil, fmt.Errorf("docker-registry did not answer on %s", host)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Uploads is the number of blob uploads the registry has completed.
func (r *registry) Uploads() int {
	time.Sleep(200 * time.Millisecond) // let the log catch up
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uploads
}

// Stop ends the registry.
func (r *registry) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}
