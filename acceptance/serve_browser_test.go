//go:build acceptance

package acceptance

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kiln-build/kiln/internal/service"
)

// TestServeBrowser: in a real browser (Debian's chromium, headless,
// driven through the DevTools protocol by chromedp) kiln serve's web page
// asks for a token, lists the apps after logging in, and a build's page
// shows the build's log as it runs: a line the build prints late (the
// test buildpack's "sleeping", seconds before the build ends) is on the
// page while the build is still running, and then the final status.
func TestServeBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (make deps installs it): %v", err)
	}
	dir := t.TempDir()
	k := startServe(t, filepath.Join(dir, "admin-token"), []string{"KILN_CACHE=" + filepath.Join(dir, "cache")},
		"--listen", freeAddr(t), "--data", filepath.Join(dir, "data"), "--registry-prefix", env.reg.Host+"/serve-browser")
	const sleep = 4
	k.mustCall("POST", "/api/apps", map[string]any{"name": "webpage", "builder": env.builder,
		"env": map[string]string{"SLEEP_BUILD": fmt.Sprint(sleep)}}, nil)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // chromium refuses to run as root with its sandbox
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.Flag("no-proxy-server", true), // kiln serve is on 127.0.0.1
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// The first call starts the browser, which lives as long as its
	// context: bctx, without a deadline; later calls get one.
	if err := chromedp.Do(bctx, chromedp.Navigate(k.url+"/")); err != nil {
		t.Fatalf("opening the page in chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 5*time.Minute)
	defer cancel()

	// Log in: the page asks for a token, then lists the apps.
	err = chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), k.token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/apps/webpage"]`)),
	)
	if err != nil {
		t.Fatalf("logging in: %v", err)
	}
	apps, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("reading the apps page: %v", err)
	}
	if !strings.Contains(apps, "webpage") {
		t.Errorf("the apps page: %q", apps)
	}

	// A build, followed on its page.
	b := k.start("webpage", tarGz(t, appSource(t)))
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/builds/%d", k.url, b.ID)), chromedp.WaitReady(chromedp.ID("log"))); err != nil {
		t.Fatalf("opening build %d: %v", b.ID, err)
	}
	read := func() (log, status string) {
		t.Helper()
		log, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("log"), chromedp.NodeReady))
		if err == nil {
			status, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("status"), chromedp.NodeReady))
		}
		if err != nil {
			t.Fatalf("reading the page: %v", err)
		}
		return log, strings.TrimSpace(status)
	}
	var lateAt time.Time
	for lateAt.IsZero() {
		log, status := read()
		if strings.Contains(log, fmt.Sprintf("app: sleeping %ds", sleep)) {
			lateAt = time.Now()
			// The build is still running on the server, and the page
			// says so.
			if got := k.build(b.ID); got.Status != service.StatusRunning {
				t.Errorf("the late line was on the page, but the build is %s", got.Status)
			}
			if status != "running" {
				t.Errorf("the page shows status %q while the build runs", status)
			}
			break
		}
		if service.Status(status).Final() {
			t.Fatalf("the build ended %s before its late line was on the page:\n%s", status, log)
		}
		if ctx.Err() != nil {
			t.Fatalf("the late line never came:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		log, status := read()
		if service.Status(status).Final() {
			t.Logf("final status on the page %s after the late line; log:\n%s", time.Since(lateAt).Round(100*time.Millisecond), log)
			if status != string(service.StatusSucceeded) || !strings.Contains(log, "kiln serve: build succeeded") {
				t.Errorf("the page ended with status %q", status)
			}
			if d := time.Since(lateAt); d < (sleep-1)*time.Second {
				t.Errorf("the late line came only %s before the end: not live", d)
			}
			image, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("image"), chromedp.NodeReady))
			if final := k.build(b.ID); !strings.Contains(image, final.Digest) || final.Digest == "" {
				t.Errorf("the page shows image %q, the build %s", image, final.Digest)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the page never showed the end:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
