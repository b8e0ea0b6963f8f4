package shell

import "strings"

// Script describes one shell process.
type Script struct {
	// Profiles are the files to source, in order: profile.d scripts, then
	// <app>/.profile when it exists.
	Profiles []string
	// WorkingDir is where the command runs; empty keeps the current one.
	WorkingDir string
	// Command is shell source: it is evaluated by bash, so it may hold
	// variables, pipes and lists.
	Command string
	// Args are words appended to Command literally, never evaluated.
	Args []string
}

// String returns the script text to give to `bash -c`.
func (s Script) String() string {
	var b strings.Builder
	for _, p := range s.Profiles {
		b.WriteString("source ")
		b.WriteString(Quote(p))
		b.WriteByte('\n')
	}
	if s.WorkingDir != "" {
		b.WriteString("cd -- ")
		b.WriteString(Quote(s.WorkingDir))
		b.WriteString(" || exit 83\n")
	}
	b.WriteString(s.Command)
	for _, a := range s.Args {
		b.WriteByte(' ')
		b.WriteString(Quote(a))
	}
	b.WriteByte('\n')
	return b.String()
}

// Argv returns the arguments for running the script with the bash binary at
// bashPath.
func (s Script) Argv(bashPath string) []string {
	return []string{bashPath, "-c", s.String()}
}

// Quote returns s as one bash word that expands to exactly s.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
