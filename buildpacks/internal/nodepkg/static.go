package nodepkg

import (
	"strings"
)

// devServers are the first words of start scripts that run a development
// server (with live reload) rather than the app: a project whose start is
// one of these and that has a build script is a site to build and serve
// as files.
var devServers = map[string][]string{
	"react-scripts":      {"start"},
	"vite":               {"", "dev", "serve", "preview"},
	"ng":                 {"serve"},
	"astro":              {"dev", "preview"},
	"vue-cli-service":    {"serve"},
	"webpack":            {"serve"},
	"webpack-dev-server": nil,
	"parcel":             nil,
	"gatsby":             {"develop"},
	"docusaurus":         {"start"},
	"eleventy":           {"--serve"},
	"http-server":        nil,
	"serve":              nil,
}

// DevServer reports whether start script runs a development server (or a
// plain static file server) rather than an app server.
func DevServer(script string) bool {
	words := strings.Fields(script)
	for len(words) > 0 && strings.Contains(words[0], "=") {
		words = words[1:]
	}
	if len(words) == 0 {
		return false
	}
	subs, ok := devServers[words[0]]
	if !ok {
		return false
	}
	if subs == nil {
		return !strings.Contains(script, "build")
	}
	sub := ""
	if len(words) > 1 {
		sub = words[1]
	}
	for _, s := range subs {
		if s == sub || (s == "" && strings.HasPrefix(sub, "-")) {
			return true
		}
	}
	return false
}

// ServesStatic reports whether the app in dir is a site that a Node.js
// build turns into files to serve (a single-page app, a static site
// generator): it has a build script, and no start command or one that
// runs a development server. The reason is for the build log.
func ServesStatic(dir string, p *Package) (string, bool) {
	if p.Scripts["build"] == "" {
		return "", false
	}
	start, ok := StartOf(dir, p)
	if !ok {
		return "package.json has a build script and no start command", true
	}
	if start.Script != "" && DevServer(start.Script) {
		return "its start script runs a development server (" + start.Script + "); the build output is served as files", true
	}
	return "", false
}
