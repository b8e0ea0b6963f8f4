#!/usr/bin/env node
// Serves GET / with the greeting and the Node.js version, on $PORT.
const http = require("http");

const i = process.argv.indexOf("--greeting");
const greeting = i > 0 ? process.argv[i + 1] : "hello";
const port = process.env.PORT || 8080;
http
  .createServer((req, res) => {
    res.setHeader("Content-Type", "text/plain");
    res.end(`${greeting} node=${process.version}\n`);
  })
  .listen(port, () => console.log(`listening on :${port}`));
