package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/failure"
	"github.com/kiln-build/kiln/lifecycle/sign/cosignkey"
)

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "manage signing keys (cosign's key file format)",
		Subcommands: []*cli.Command{{
			Name:  "generate",
			Usage: "write a new ECDSA P-256 key pair, PREFIX.key (encrypted with $COSIGN_PASSWORD) and PREFIX.pub, as cosign generate-key-pair does",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "output-prefix", Value: "cosign", Usage: "write `PREFIX`.key and PREFIX.pub"},
			},
			Action: func(c *cli.Context) error {
				if c.NArg() != 0 {
					return usageError("key generate: takes no arguments")
				}
				pw, err := cosignkey.PasswordFromEnv()
				if err != nil {
					return usageError("key generate: %v", err)
				}
				prefix := c.String("output-prefix")
				if err := cosignkey.WriteKeyPair(prefix, pw); err != nil {
					return failure.New("key", failure.SignError, err)
				}
				fmt.Fprintf(c.App.Writer, "Private key written to %s.key\nPublic key written to %s.pub\n", prefix, prefix)
				return nil
			},
		}},
	}
}
