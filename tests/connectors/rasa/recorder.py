"""A real HTTP server on loopback that plays a Rasa client's callback endpoint: it records every
POST body and can be told to answer the next ones with 500 (the client's server is down)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class HttpRecorder:
    server: ThreadingHTTPServer
    received: list[dict[str, Any]] = field(default_factory=list)  # bodies answered 200, in order
    refused: int = 0  # POSTs answered 500
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls) -> HttpRecorder:
        holder: list[HttpRecorder] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rec = holder[0]
                with rec.lock:
                    failing = rec.fail_next > 0
                    if failing:
                        rec.fail_next -= 1
                        rec.refused += 1
                    else:
                        rec.received.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        rec = cls(server)
        holder.append(rec)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return rec

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/rasa-callback"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """At least `count` bodies, or AssertionError naming what arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.bodies()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"callback got {len(self.bodies())} POST(s) within {timeout} s, expected {count}: "
                             f"{self.bodies()}")  # fmt: skip

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
