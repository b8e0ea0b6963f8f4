// A TypeScript server run by tsx, a devDependency, as its start script says.
import { createServer, IncomingMessage, ServerResponse } from "node:http";

const port: number = Number(process.env.PORT ?? 8080);

createServer((_req: IncomingMessage, res: ServerResponse): void => {
  res.setHeader("Content-Type", "text/plain");
  res.end("realapps-tsx: TypeScript via tsx\n");
}).listen(port, () => console.log(`listening on :${port}`));
