// A "single-page app" build without dependencies: writes dist/.
const fs = require("fs");
fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/index.html", "<h1>built by npm run build</h1>\n");
