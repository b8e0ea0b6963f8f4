package gotoolchain

// pinned holds h1: hashes of toolchain zips as sum.golang.org records
// them, for the newest patch release of each Go line when this list was
// made. They are used only when the checksum database cannot be reached.
var pinned = map[string]string{
	"v0.0.1-go1.21.13.linux-amd64": "h1:THKeCuuOK6mnQhbTbvvH9CKU3D4lwUERQax+yRXCVJk=",
	"v0.0.1-go1.22.5.linux-amd64":  "h1:LQChnsjY/4sr12W+7pci1Qg1+X/n7vmLOOaq2aTBG0w=",
	"v0.0.1-go1.22.12.linux-amd64": "h1:Hdh4VJAlDWzMnhKpqDwqJJr+sE7NgsJ86dyR4wrv2oY=",
	"v0.0.1-go1.23.12.linux-amd64": "h1:CQZ55qhuGAYcgv4npnr3DsfZP3i8URMjkpv7TYHRIH4=",
	"v0.0.1-go1.24.13.linux-amd64": "h1:5sgfUhn9QCgVl4UYj32GrIYFHI3bi2UX55tNfupXwxc=",
	"v0.0.1-go1.25.14.linux-amd64": "h1:XriDgll2yv4W2YeUo2X/WuUuy+iGJkXGH0CQloMBEXo=",
	"v0.0.1-go1.25.14.linux-arm64": "h1:tccCYNAEolyjUyQVNxD/wJuly2Sx85m+OUkzGIhO1oY=",
	"v0.0.1-go1.26.11.linux-amd64": "h1:KyINmJ/FQdKRmDYGuTAAXkumyeR2DyUlSNHZj7XaLFg=",
	"v0.0.1-go1.27.4.linux-amd64":  "h1:8Tl0rBb7KdISSdPkZBjlpZxsUBb+004GI/SM2XbmSqI=",
}
