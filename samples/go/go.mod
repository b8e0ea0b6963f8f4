module example.com/kiln-samples/hello

go 1.22

require github.com/julienschmidt/httprouter v1.3.0
