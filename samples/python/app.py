"""kiln's Python sample: a standard-library web app on $PORT (default 8080)."""

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GREETING = b"Hello from the kiln Python sample!\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":
            body = GREETING
        elif self.path == "/version":
            body = (sys.version.split()[0] + "\n").encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    print(f"listening on :{port}", flush=True)
    ThreadingHTTPServer(("", port), Handler).serve_forever()
