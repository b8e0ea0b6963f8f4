package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kiln-build/kiln/buildpacks"
)

func main() {
	dir := "bin/buildpacks"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := buildpacks.Package(context.Background(), dir, buildpacks.WithLog(os.Stderr)); err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	for _, d := range buildpacks.Dirs(dir) {
		fmt.Println(d)
	}
}
