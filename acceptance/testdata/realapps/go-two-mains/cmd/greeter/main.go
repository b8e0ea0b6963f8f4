// greeter is the web server: named like the module, it is the web process.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "realapps-go: greeter from cmd/greeter")
	})
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
