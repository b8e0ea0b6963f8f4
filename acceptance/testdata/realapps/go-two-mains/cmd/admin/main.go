// admin is a command-line tool beside the server: a process of its own.
package main

import "fmt"

func main() { fmt.Println("admin: nothing to do") }
