package dpkg

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxChangelogScan bounds how much of a changelog is read looking for the
// first entry's trailer line.
const maxChangelogScan = 4 << 20

// ChangelogDate returns the date of the newest entry in a gzip-compressed
// Debian changelog (usr/share/doc/<package>/changelog.Debian.gz): the date
// on the first " -- Maintainer <address>  Date" trailer line.
func ChangelogDate(gz []byte) (time.Time, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return time.Time{}, fmt.Errorf("decompressing changelog: %w", err)
	}
	return changelogDate(io.LimitReader(zr, maxChangelogScan))
}

func changelogDate(r io.Reader) (time.Time, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " -- ") {
			continue
		}
		_, date, ok := strings.Cut(line, ">  ")
		if !ok {
			return time.Time{}, fmt.Errorf("changelog trailer %q: no date after the maintainer address", line)
		}
		return ParseChangelogTime(date)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return time.Time{}, fmt.Errorf("reading changelog: %w", err)
	}
	return time.Time{}, errors.New("changelog has no entry trailer line")
}

// changelogLayouts are the RFC 5322 date forms found in Debian changelogs.
var changelogLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
}

// ParseChangelogTime parses the date of a changelog trailer line, such as
// "Sat, 11 Mar 2023 14:28:41 +0100", ignoring a trailing zone comment.
func ParseChangelogTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, " ("); i > 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = strings.Join(strings.Fields(s), " ")
	for _, layout := range changelogLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("changelog date %q: not an RFC 5322 date", s)
}
