// Answers GET / with the version of the ms package that was installed:
// the lockfile pins 2.0.0, older than the newest 2.x package.json allows.
const http = require("http");
const ms = require("ms/package.json");

const port = process.env.PORT || 8080;
http
  .createServer((req, res) => {
    res.setHeader("Content-Type", "text/plain");
    res.end(`realapps yarn: ms ${ms.version}\n`);
  })
  .listen(port, () => console.log(`listening on :${port}`));

