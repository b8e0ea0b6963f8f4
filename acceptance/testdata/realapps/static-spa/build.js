// Builds the single-page app into build/, as react-scripts build would,
// and, like Astro or Next.js, keeps a config file in the user's home.
const fs = require("fs");
const os = require("os");
const path = require("path");

const conf = path.join(os.homedir(), ".config", "realapps");
fs.mkdirSync(conf, { recursive: true });
fs.writeFileSync(path.join(conf, "telemetry.json"), '{"enabled":false}\n');

fs.mkdirSync("build", { recursive: true });
fs.writeFileSync(
  path.join("build", "index.html"),
  "<!doctype html><title>spa</title><div id=root>realapps-spa: built by Node.js, served as files</div>\n",
);
console.log("wrote build/index.html; config in " + conf);
