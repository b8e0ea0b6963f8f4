"""Serves a greeting from the vendored kilnhello package."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import kilnhello


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (kilnhello.GREETING + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
