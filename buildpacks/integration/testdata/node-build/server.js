// Runs at launch: needs the production dependency ms, not is-number.
const http = require("http");
const fs = require("fs");
const ms = require("ms");
let devAtLaunch = true;
try { require.resolve("is-number"); } catch { devAtLaunch = false; }
const body = fs.readFileSync("generated/message.txt", "utf8") +
  `one minute is ${ms("1m")} ms\ndev dependencies at launch: ${devAtLaunch}\n`;
http.createServer((req, res) => res.end(body)).listen(process.env.PORT || 8080);
