// Package failure ties an error to the phase it happened in and to the exit
// code kiln ends with. The codes follow the bands of the CNB platform spec
// (platform.md, "Exit Codes"), so scripts written for the CNB lifecycle read
// kiln's failures the same way.
package failure
