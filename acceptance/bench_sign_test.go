//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-build/kiln/lifecycle/sign/cosignkey"
)

// signOverheadTarget is what --sign-key may add to a no-op rebuild:
// decrypting the key, attesting the provenance and signing.
const signOverheadTarget = 300 * time.Millisecond

// BenchmarkSign prints the cost of --sign-key on a no-op rebuild of the
// test app published to the test registry: the medians of 5 rebuilds
// without and 5 with it, interleaved.
func BenchmarkSign(b *testing.B) {
	dir := b.TempDir()
	b.Setenv(cosignkey.PasswordEnv, "kiln-bench")
	mustKiln(b, "key", "generate", "--output-prefix", filepath.Join(dir, "cosign"))
	src := copyTree(b, filepath.Join("testdata", "app"), filepath.Join(dir, "app"))
	ref := env.reg.Host + "/bench-sign/app:latest"
	build := func(extra ...string) time.Duration {
		args := append([]string{"build", ref, "--builder", env.builder, "--path", src, "--publish"}, extra...)
		return timed(func() { mustKiln(b, args...) })
	}
	build() // cold
	signed := []string{"--sign-key", filepath.Join(dir, "cosign.key")}
	build(signed...) // the first signature and attestation images
	var plain, withKey []time.Duration
	for range 5 {
		plain = append(plain, build())
		withKey = append(withKey, build(signed...))
	}
	p, s := median(plain), median(withKey)
	table := &benchTable{}
	table.add("sign", "no-op rebuild, published (median of 5)", secs(p), "", "")
	table.add("sign", "no-op rebuild, published with --sign-key (median of 5)", secs(s), "", "")
	table.add("sign", "--sign-key overhead on a no-op rebuild", secs(s-p),
		fmt.Sprintf("target <= %.2f s", signOverheadTarget.Seconds()), ratio(s-p, signOverheadTarget))
	fmt.Println()
	table.print(os.Stdout)
}
