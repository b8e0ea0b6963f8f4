package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/sign"
	"github.com/kiln-build/kiln/lifecycle/sign/cosignkey"
	"github.com/kiln-build/kiln/lifecycle/sign/signindex"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check an image's cosign signature and SLSA provenance attestation, and a policy on the provenance",
		ArgsUsage: "IMAGE",
		Description: "Checks, with the public key: a signature of IMAGE's digest (as cosign verify does),\n" +
			"a signed SLSA v1 provenance attestation (as cosign verify-attestation --type\n" +
			"slsaprovenance1 does), that the provenance is about IMAGE's digest, and what\n" +
			"--builder and --source-repo ask of it. For a multi-platform image index: the\n" +
			"index's signature and provenance, then every image of it as above. Prints each\n" +
			"check; exits 90 when one fails.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Required: true, Usage: "cosign public key `FILE` (cosign.pub)"},
			&cli.StringFlag{Name: "builder", Usage: "the builder image the build must have used: `REF` (name[:tag]), name@sha256:... or sha256:..."},
			&cli.StringFlag{Name: "source-repo", Usage: "the git remote `URL` the source must come from"},
		},
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("verify: give exactly one IMAGE")
	}
	iio, ref, err := registryImage(c, "verify")
	if err != nil {
		return err
	}
	v, err := cosignkey.LoadPublicKey(c.String("key"))
	if err != nil {
		return failure.New("verify", failure.VerifyFailed, err)
	}
	d, index, err := resolveTarget(c.Context, iio, ref)
	if err != nil {
		return failure.New("verify", failure.VerifyFailed, err)
	}
	policy := sign.Policy{Builder: c.String("builder"), SourceRepo: c.String("source-repo")}
	w := c.App.Writer
	var ok bool
	var failed []string
	if index {
		r, err := signindex.Verify(c.Context, d, v, policy, iio.RemoteOptions(c.Context)...)
		if err != nil {
			return failure.New("verify", failure.VerifyFailed, err)
		}
		fmt.Fprintf(w, "Verifying the image index %s (%d images) with %s\n", d, len(r.Images), c.String("key"))
		fmt.Fprintf(w, "index %s\n", d)
		printChecks(w, r.Index)
		for _, im := range r.Images {
			fmt.Fprintf(w, "image %s %s\n", im.Platform, im.Image)
			printChecks(w, im.Report)
		}
		ok, failed = r.OK(), r.Failed()
	} else {
		r, err := sign.Verify(c.Context, d, v, policy, sign.WithRemote(iio.RemoteOptions(c.Context)...))
		if err != nil {
			return failure.New("verify", failure.VerifyFailed, err)
		}
		fmt.Fprintf(w, "Verifying %s with %s\n", d, c.String("key"))
		printChecks(w, r)
		ok, failed = r.OK(), r.Failed()
	}
	if !ok {
		return failure.New("verify", failure.VerifyFailed, fmt.Errorf("%s failed verification: %s", d, strings.Join(failed, ", ")))
	}
	fmt.Fprintf(w, "Verified %s\n", d)
	return nil
}

// printChecks prints one line per check of r.
func printChecks(w io.Writer, r *sign.Report) {
	for _, ch := range r.Checks {
		status := "ok    "
		if !ch.OK {
			status = "FAILED"
		}
		fmt.Fprintf(w, "%s  %s: %s\n", status, ch.Name, ch.Detail)
	}
}
