// kiln's Node.js sample: an express app on $PORT (default 8080).
const express = require("express");

const app = express();
const port = process.env.PORT || 8080;

app.get("/", (req, res) => {
  res.type("text/plain").send("Hello from the kiln Node.js sample!\n");
});

app.get("/env", (req, res) => {
  res.json({ node: process.version, env: process.env.NODE_ENV });
});

app.listen(port, () => {
  console.log(`listening on :${port}`);
});
