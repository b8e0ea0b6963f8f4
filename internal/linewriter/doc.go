// Package linewriter writes the output of several programs to one
// destination a whole line at a time, each line behind a prefix that says
// whose it is (a buildpack, an extension, a platform's build). A line
// longer than MaxLine is written in pieces, so a program that never ends
// a line cannot make the writer hold unbounded output.
package linewriter
