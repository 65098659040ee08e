"""A stand-in server for the fuzz harness's own tests: answers GET /health like the app, answers
POST with 200 JSON, 500 when the body holds "fail", and aborts the whole process (as a native
crash in the model did) when it holds "boom".

    python tests/fuzz_crashing_server.py CONFIG.json   # reads the port from the config
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(200, {"status": "ok"})

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if b"boom" in body:
            os.abort()
        if b"fail" in body:
            self._answer(500, {"error": "internal"})
            return
        self._answer(200, {"ok": True})

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = json.loads(Path(sys.argv[1]).read_text())["port"]
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()
