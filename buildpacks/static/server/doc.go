// Command server is kiln's static file server, installed by the static
// buildpack into a launch layer of its own as bin/kiln-static. It serves
// -root (default: the working directory) on $PORT (default 8080) with
// gzip, content-hash ETags, Cache-Control headers and -404 (default
// 404.html) as the not-found page; -spa answers unknown paths with
// index.html. SIGTERM and SIGINT stop it gracefully.
package main
