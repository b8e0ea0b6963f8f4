// Package shell writes the bash script that runs a launcher "shell" process:
// one bash process sources every profile.d script and the app's .profile
// with the app dir as working directory, changes to the process's working
// directory and then runs the command, which bash executes in place of
// itself when it is a simple command.
package shell
