// Package dpkg reads what dpkg leaves in a Debian root file system: the
// installed package list from /var/lib/dpkg/status and the dates of the
// packages' Debian changelogs.
//
// Package lists are small and stable enough to be recorded in an image
// label; the newest changelog date is a reproducible stand-in for "when
// this set of packages was released", used as the image's fixed time.
package dpkg
