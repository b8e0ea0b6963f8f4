// Command build is kiln's Procfile buildpack (id kiln/procfile), bin/build
// and, through a symlink, bin/detect.
//
// Detection passes when the app has a Procfile; the buildpack needs and
// provides nothing, so it composes with every other buildpack, and it
// runs last in its groups so that its processes replace theirs. Each
// entry becomes a process of that type: a command of plain words runs
// directly; one with variables ($PORT, ${PORT:-8080}), quotes or other
// shell syntax runs through kiln-exec, installed into a launch layer, which
// expands it without a shell (kiln's run images have none). The web
// process is the default.
package main
