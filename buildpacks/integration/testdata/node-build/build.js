// Runs at build time: needs the dev dependency is-number.
const fs = require("fs");
const isNumber = require("is-number");
fs.mkdirSync("generated", { recursive: true });
fs.writeFileSync("generated/message.txt", `built with is-number: ${isNumber(42)}\n`);
