// Package acceptance holds kiln's end-to-end tests (build tag
// "acceptance"): a real registry (Debian's docker-registry on 127.0.0.1),
// real runc, small Debian stacks built with mmdebstrap, shell-script
// buildpacks, and the kiln binary driven as a user would drive it. Built
// images are pulled back and run.
//
//	go test -tags acceptance ./acceptance/...   (or: make acceptance)
package acceptance
