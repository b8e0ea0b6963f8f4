package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/kiln-build/kiln/lifecycle/imageio"
	"github.com/kiln-build/kiln/lifecycle/inspect"
)

func imagesCommand() *cli.Command {
	return &cli.Command{
		Name:  "images",
		Usage: "list the images in kiln's local store",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *cli.Context) error {
			store, err := openStore()
			if err != nil {
				return err
			}
			entries, err := store.List()
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tDIGEST\tCREATED\tSIZE")
			for _, e := range entries {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", e.Name, e.Digest.String()[:19], e.Created.Time.UTC().Format(time.RFC3339), inspect.HumanSize(e.Size))
			}
			return w.Flush()
		},
	}
}

func rmCommand() *cli.Command {
	return &cli.Command{
		Name:      "rm",
		Usage:     "remove images from kiln's local store",
		ArgsUsage: "NAME...",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageError("rm: name at least one image")
			}
			store, err := openStore()
			if err != nil {
				return err
			}
			for _, n := range c.Args().Slice() {
				if err := store.Remove(n); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "removed %s\n", n)
			}
			return nil
		},
	}
}

func openStore() (*imageio.LocalStore, error) {
	dir, err := imageio.DefaultStoreDir()
	if err != nil {
		return nil, err
	}
	return imageio.OpenStore(dir)
}
