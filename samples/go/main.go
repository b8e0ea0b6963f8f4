package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/julienschmidt/httprouter"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	r := httprouter.New()
	r.GET("/", func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
		fmt.Fprintln(w, "Hello from the kiln Go sample!")
	})
	r.GET("/hello/:name", func(w http.ResponseWriter, _ *http.Request, p httprouter.Params) {
		fmt.Fprintf(w, "Hello, %s!\n", p.ByName("name"))
	})
	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, r))
}
