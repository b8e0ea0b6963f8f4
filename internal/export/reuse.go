package export

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Memo remembers, from one build to the next, which layer diffID a
// directory's state (its archive.Fingerprint) produced. A layer whose
// fingerprint is unchanged, and whose diffID the previous image has, is
// taken from the previous image without being tarred, hashed or
// compressed again.
type Memo map[string]string

// reusable returns the previous image's layer for fp, if the memo knows
// fp and the previous image holds that diffID.
func reusable(prev v1.Image, memo Memo, fp string) (v1.Layer, bool) {
	if prev == nil || memo == nil || fp == "" {
		return nil, false
	}
	d, ok := memo[fp]
	if !ok {
		return nil, false
	}
	h, err := v1.NewHash(d)
	if err != nil {
		return nil, false
	}
	l, err := prev.LayerByDiffID(h)
	if err != nil {
		return nil, false
	}
	return withDiffID(l, h), true
}

// knownDiffID is a layer found by its diffID. Some layer kinds (those of
// an OCI layout, such as kiln's local store) compute DiffID by
// decompressing the whole blob; the caller already knows it.
type knownDiffID struct {
	v1.Layer
	diffID v1.Hash
}

func (k knownDiffID) DiffID() (v1.Hash, error) { return k.diffID, nil }

func withDiffID(l v1.Layer, h v1.Hash) v1.Layer { return knownDiffID{Layer: l, diffID: h} }
