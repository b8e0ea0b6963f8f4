// Package debianbookworm ships kiln's default stack, debian-bookworm: its
// stack.toml is embedded so that kiln can build the default builder
// without the source tree.
package debianbookworm
