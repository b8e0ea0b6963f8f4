// Command build is kiln's static site buildpack (id kiln/static), bin/build
// and, through a symlink, bin/detect.
//
// Detection passes when the app has an index.html at its root or in
// public/, dist/ or build/, or when it is a Node.js app whose build script
// is expected to write one (a package.json with scripts.build and no way
// to start a server). A Node.js server app (scripts.start, server.js or
// main) is left to the Node.js buildpack. The build finds the site
// directory (BP_STATIC_ROOT, else the first of dist/, build/, public/ and
// the root that holds index.html), installs kiln's static file server
// into a launch layer of its own and makes it the default "web" process,
// listening on $PORT (default 8080). BP_STATIC_SPA=true serves index.html
// for unknown paths.
package main
