package gitserve

import (
	"errors"
	"io"
)

// errTooLarge ends a capped stream.
var errTooLarge = errors.New("too large")

// capped reads r and fails with errTooLarge once more than left bytes
// went through: the count is of what streams, whatever a header said.
type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		n, c.left = int(c.left), -1 // pass what fits, then fail
		return n, errTooLarge
	}
	c.left -= int64(n)
	return n, err
}
