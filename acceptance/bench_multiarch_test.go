//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkMultiarch: kiln's Go sample built cold for linux/amd64 alone,
// for linux/arm64 alone (the Go buildpack runs under qemu, the amd64
// toolchain cross-compiles natively) and for both at once (in parallel,
// one index), each to a new repository with an empty cache.
func BenchmarkMultiarch(b *testing.B) {
	multiarchSetup(b)
	table := &benchTable{}
	src := copySample(b, "go")
	run := func(tag, platforms string) time.Duration {
		app := fmt.Sprintf("%s/multiarch-bench/%s-%d:latest", env.reg.Host, tag, time.Now().UnixNano())
		return timed(func() {
			mustKiln(b, "build", app, "--builder", multiarch.builder, "--path", src, "--publish", "--platform", platforms)
		})
	}
	amd := run("amd64", "linux/amd64")
	arm := run("arm64", "linux/arm64")
	both := run("both", "linux/amd64,linux/arm64")
	table.add("multiarch", "Go sample, cold, linux/amd64", secs(amd), "-", "-")
	table.add("multiarch", "Go sample, cold, linux/arm64 (cross-compiled)", secs(arm), secs(amd)+" (amd64)", ratio(arm, amd))
	table.add("multiarch", "Go sample, cold, amd64+arm64 index", secs(both), secs(amd+arm)+" (one after the other)", ratio(both, amd+arm))
	fmt.Println()
	table.print(os.Stdout)
}
