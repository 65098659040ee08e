"""Sending cases to the server process one at a time and judging each answer.

A case fails when the server answers 5xx, closes a WebSocket with 1011 (internal error) or
without a close frame, drops the connection, logs a traceback, takes longer than the timeout, or
dies (a crash: the process is gone; it is restarted for the next case). A JSON endpoint must
answer JSON and a voice webhook's 200 must be a clean TwiML <Response>.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import StrEnum

from eval.fuzz.cases import EVENT_STREAMS, Case, Frame
from eval.fuzz.server import ServerDied, ServerProcess

JSON_PREFIXES = ("/model/", "/webhooks/", "/chat/api/", "/agent/api/", "/api/v1/", "/email/", "/health")
# Close codes a server may legitimately end a chat socket with.
CLEAN_CLOSES = {1000, 1001, 1003, 1007, 1008, 1009}
# uvicorn logs a traceback when a client sends a text frame that is not UTF-8, and then closes the
# socket with 1007 as it should: the client's fault, handled before the app sees the frame.
KNOWN_LIBRARY_LOGS = re.compile(
    r"ERROR:\s+Invalid UTF-8 sequence received from client\.\nTraceback \(most recent call last\):\n"
    r"(?:[ \t].*\n)*UnicodeDecodeError:.*\n?"
)


class Outcome(StrEnum):
    OK = "ok"
    SERVER_ERROR = "5xx"  # a 5xx, a WebSocket 1011 or a traceback in the server log
    BAD_RESPONSE = "bad-response"  # not JSON / not clean TwiML where that is the contract
    DROPPED = "dropped"  # connection closed without an answer while the server lives on
    TIMEOUT = "timeout"
    CRASH = "crash"  # the server process died
    UNSENDABLE = "unsendable"  # the HTTP client refused to send it: nothing reached the server


FAILURES = frozenset(Outcome) - {Outcome.OK, Outcome.UNSENDABLE}


@dataclass(frozen=True)
class Result:
    case: Case
    outcome: Outcome
    status: int | None  # HTTP status, or the WebSocket close code
    cpu_seconds: float  # server CPU (user + system) spent while this case ran
    wall_seconds: float
    detail: str = ""  # traceback, log tail or what was wrong

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES


def _path(target: str) -> str:
    return target.split("?", 1)[0]


def check_http(case: Case, status: int, content_type: str, body: bytes) -> str | None:
    """What is wrong with an HTTP answer, or None."""
    ctype = content_type.split(";")[0].strip().lower()
    path = _path(case.target)
    if path.startswith("/voice/") and status == 200:
        if ctype != "application/xml":
            return f"TwiML expected, got {content_type!r}"
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            return f"TwiML does not parse: {exc}"
        if root.tag != "Response" or any(el.tag.lower() == "script" for el in root.iter()):
            return "not a clean TwiML <Response>"
        return None
    if path in EVENT_STREAMS and status == 200:
        if ctype != "text/event-stream":
            return f"an event stream expected, got {content_type!r}"
        try:
            for line in body.decode("utf-8").splitlines():
                if line.startswith("data:"):
                    json.loads(line[5:])
        except ValueError as exc:
            return f"an event is not JSON: {exc}"
        return None
    if path.startswith(JSON_PREFIXES) and case.method != "OPTIONS" and status not in (204, 304) and body:
        if ctype == "text/csv" and path.startswith("/api/v1/stats/") and status == 200:
            return None  # the reports' CSV (format=csv, Accept: text/csv, contacts.csv)
        if ctype != "application/json":
            return f"JSON expected, got {content_type!r}"
        try:
            json.loads(body)
        except ValueError as exc:
            return f"body is not JSON: {exc}"
    return None


class Runner:
    """Runs cases against a started `ServerProcess`, restarting it when it dies or hangs."""

    def __init__(self, server: ServerProcess, timeout: float = 60.0) -> None:
        self.server = server
        self.timeout = timeout
        self.crashes = 0
        self._client = None

    def _http(self):
        import httpx

        if self._client is None:
            self._client = httpx.Client(base_url=self.server.base_url, timeout=self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _restart(self) -> None:
        self.close()
        self.server.stop()
        self.server.start()

    def run(self, case: Case) -> Result:
        if not self.server.alive():
            self._restart()
        cpu0, t0 = self.server.cpu_seconds(), time.perf_counter()
        try:
            outcome, status, detail = self._ws(case) if case.method == "WS" else self._request(case)
        except ServerDied:
            raise
        if case.method == "WS":
            # The handler may still be unwinding after the socket ended (most of all when the
            # server closed it): let it finish so what it logs is charged to this case.
            time.sleep(0.3 if status is not None or outcome is not Outcome.OK else 0.05)
        alive = self.server.alive()
        cpu = self._cpu_since(cpu0) if alive else 0.0
        wall = time.perf_counter() - t0
        log = KNOWN_LIBRARY_LOGS.sub("", self.server.read_log())
        if not alive:
            self.crashes += 1
            result = Result(case, Outcome.CRASH, status, cpu, wall, f"server {self.server.exit_status()}:\n{log[-3000:]}")
            self._restart()
            return result
        if outcome is Outcome.TIMEOUT:
            self._restart()  # a busy server would charge its work to the next cases
        elif "Traceback (most recent call last)" in log and outcome is Outcome.OK:
            outcome = Outcome.SERVER_ERROR
        if "Traceback (most recent call last)" in log:
            start = max(0, log.index("Traceback (most recent call last)") - 300)
            detail = (detail + "\n" if detail else "") + log[start:][:8000]
        return Result(case, outcome, status, cpu, wall, detail)

    def _cpu_since(self, cpu0: float) -> float:
        try:
            return max(0.0, self.server.cpu_seconds() - cpu0)
        except OSError:
            return 0.0

    def _died(self, grace: float = 2.0) -> bool:
        """A dropped connection: wait briefly for the process to be reaped before judging."""
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self.server.alive():
                return True
            time.sleep(0.05)
        return False

    def _request(self, case: Case) -> tuple[Outcome, int | None, str]:
        import httpx

        try:
            headers = [(k.encode(), v.encode("utf-8", "surrogatepass")) for k, v in case.headers]
            r = self._http().request(case.method, case.target, content=case.body or None, headers=headers)
        except httpx.TimeoutException:
            return Outcome.TIMEOUT, None, f"no answer within {self.timeout:.0f} s"
        except httpx.LocalProtocolError as exc:  # HTTP itself forbids it (a header ending in a space)
            return Outcome.UNSENDABLE, None, repr(exc)
        except httpx.TransportError as exc:
            self.close()
            if self._died():
                return Outcome.CRASH, None, repr(exc)
            return Outcome.DROPPED, None, repr(exc)
        if r.status_code >= 500:
            return Outcome.SERVER_ERROR, r.status_code, r.content[:500].decode("utf-8", "replace")
        problem = check_http(case, r.status_code, r.headers.get("content-type", ""), r.content)
        if problem:
            return Outcome.BAD_RESPONSE, r.status_code, f"{problem}: {r.content[:300]!r}"
        return Outcome.OK, r.status_code, ""

    def _ws(self, case: Case) -> tuple[Outcome, int | None, str]:
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        url = self.server.base_url.replace("http://", "ws://") + case.target
        try:
            ws = connect(url, open_timeout=self.timeout, close_timeout=5, max_size=None)
        except InvalidStatus as exc:
            status = exc.response.status_code
            return (Outcome.SERVER_ERROR if status >= 500 else Outcome.OK), status, ""
        except TimeoutError:
            return Outcome.TIMEOUT, None, "WebSocket handshake timed out"
        except (OSError, InvalidHandshake) as exc:
            return (Outcome.CRASH if self._died() else Outcome.DROPPED), None, repr(exc)
        with ws:
            try:
                for frame in case.frames:
                    _send(ws, frame)
                ws.send('{"type":"ping"}')
                deadline = time.monotonic() + self.timeout
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return Outcome.TIMEOUT, None, f"no pong within {self.timeout:.0f} s"
                    try:
                        message = ws.recv(timeout=left)
                    except TimeoutError:
                        continue
                    if isinstance(message, str) and '"pong"' in message:
                        return Outcome.OK, None, ""
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                if code in CLEAN_CLOSES:
                    return Outcome.OK, code, ""
                if code is None and self._died():
                    return Outcome.CRASH, None, repr(exc)
                return Outcome.SERVER_ERROR, code, f"socket closed with {code or 'no close frame'}: {exc}"


def _send(ws, frame: Frame) -> None:
    if frame.kind == "bytes":
        ws.send(frame.data)
    elif frame.kind == "bad-text":
        ws.send(frame.data, text=True)  # a text frame whose payload is not UTF-8
    else:
        try:
            frame.data.encode("utf-8")
            ws.send(frame.data)
        except UnicodeEncodeError:  # lone surrogates: send their bytes as a text frame
            ws.send(frame.data.encode("utf-8", "surrogatepass"), text=True)
