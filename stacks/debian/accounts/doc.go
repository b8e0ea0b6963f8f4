// Package accounts reads and extends the account databases of a Debian
// root file system: /etc/passwd, /etc/group, and, when present,
// /etc/shadow and /etc/gshadow.
//
// It exists so that a stack image can carry its CNB user without running
// useradd inside the image: Add appends the user and its primary group in
// the same formats the shadow tools write, and refuses a name or an ID that
// is already taken by someone else.
package accounts
