package main

import "github.com/kiln-build/kiln/buildpacks/sdk"

func main() { sdk.Main(detect, build) }
