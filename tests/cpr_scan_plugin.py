"""A pytest plugin that fails the run when a CPR number reaches kontakt's log output.

For the whole session it puts `CprScanHandler` on the root logger and on the uvicorn loggers
(which do not propagate when uvicorn configures them) and lowers `kontakt` to INFO, so every
product record (loggers kontakt*, bot*, connectors*, eval*, uvicorn*, fastapi, starlette, httpx,
sqlalchemy, alembic) passes through it. The handler is an ordinary log handler: it gets the
RedactingFilter exactly when the product installs it on its handlers (`create_app`, the CLI), and
it formats each record after its filters, as a real handler would write it. At session end, any
formatted record containing a CPR number (DDMMYY-XXXX or DDMMYYXXXX whose DDMMYY is a real date)
fails the run; the report shows the logger and the line with the digits masked.

A line that never reaches the log is as bad as one with a CPR number in it, and easier to miss:
records of uvicorn's access logger are formatted with uvicorn's own AccessFormatter (which reads
`record.args` itself), and for the whole session `logging.Handler.handleError`, which every
handler calls when its formatter or stream raises ("--- Logging error ---"), also records the
lost product line as a finding. The scanner's date check is its own code, on purpose: it must
not share a blind spot with bot.privacy.

Records of the tests' own loggers (e.g. tests.privacy, which logs CPR numbers on purpose through
its own filtered handler) are not scanned.

Enable from tests/conftest.py with `pytest_plugins = ["cpr_scan_plugin"]` (tests/ is on sys.path
there), or for one run with `-p cpr_scan_plugin`.
"""

from __future__ import annotations

import datetime
import logging
import re
import sys

import pytest

CPR_IN_LOG = re.compile(r"(?<!\d)(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2}-?\d{4}(?!\d)")
PRODUCT_LOGGERS = ("kontakt", "bot", "connectors", "eval", "uvicorn", "fastapi", "starlette", "httpx",
                   "sqlalchemy", "alembic", "root")  # fmt: skip
NON_PROPAGATING = ("uvicorn", "uvicorn.access", "uvicorn.error")


def _real_date(ddmmyy: str) -> bool:
    # 2000 is a leap year, so 29 February counts in every year divisible by four.
    try:
        datetime.date(2000 + int(ddmmyy[4:6]), int(ddmmyy[2:4]), int(ddmmyy[:2]))
    except ValueError:
        return False
    return True


def find_cprs(text: str) -> list[str]:
    """Every CPR number in `text`: DDMMYY-XXXX or DDMMYYXXXX where DDMMYY is a real date."""
    return [m for m in CPR_IN_LOG.findall(text) if _real_date(m[:6])]


def _formatter_for(name: str) -> logging.Formatter | None:
    """uvicorn's access records are written by its AccessFormatter, which unpacks `record.args`."""
    if name != "uvicorn.access":
        return None
    try:
        from uvicorn.logging import AccessFormatter
    except ImportError:  # uvicorn not installed: nothing writes those records
        return None
    return AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)


def is_product_logger(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in PRODUCT_LOGGERS)


class CprScanHandler(logging.Handler):
    """Collects formatted product records that contain a CPR number (masked in `findings`)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.findings: list[str] = []
        self.scanned = 0

    def emit(self, record: logging.LogRecord) -> None:
        if not is_product_logger(record.name):
            return
        try:
            special = _formatter_for(record.name)
            text = special.format(record) if special is not None else self.format(record)
        except Exception as exc:  # noqa: BLE001 - a real handler would have lost this line
            self.lost(record, exc)
            return
        self.scanned += 1
        if find_cprs(text):
            masked = CPR_IN_LOG.sub("<CPR!>", text).replace("\n", " | ")
            self.findings.append(f"{record.name} ({record.pathname}:{record.lineno}): {masked[:300]}")

    def lost(self, record: logging.LogRecord, exc: BaseException | None) -> None:
        """A product record that a handler could not write. The message is not shown: it may
        be the very text that could not be redacted."""
        why = f"{type(exc).__name__}: {CPR_IN_LOG.sub('<CPR!>', str(exc))[:120]}" if exc else "unknown error"
        self.findings.append(f"{record.name} ({record.pathname}:{record.lineno}): line lost by the formatter ({why})")


_STATE: dict[str, object] = {}


def _watch_handler_errors(handler: CprScanHandler) -> None:
    """Every handler reports a failed emit through `Handler.handleError`; note product lines."""
    original = logging.Handler.handleError
    _STATE["handle_error"] = original

    def handle_error(self: logging.Handler, record: logging.LogRecord) -> None:
        if is_product_logger(record.name) and self is not handler:
            handler.lost(record, sys.exc_info()[1])
        original(self, record)

    logging.Handler.handleError = handle_error  # type: ignore[method-assign]


def install() -> CprScanHandler:
    handler = CprScanHandler()
    _watch_handler_errors(handler)
    logging.getLogger().addHandler(handler)
    for name in NON_PROPAGATING:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
    kontakt = logging.getLogger("kontakt")
    _STATE["kontakt_level"] = kontakt.level
    if kontakt.level == logging.NOTSET or kontakt.level > logging.INFO:
        kontakt.setLevel(logging.INFO)
    _STATE["handler"] = handler
    return handler


def uninstall(handler: CprScanHandler) -> None:
    original = _STATE.pop("handle_error", None)
    if original is not None:
        logging.Handler.handleError = original  # type: ignore[method-assign]
    logging.getLogger().removeHandler(handler)
    for name in NON_PROPAGATING:
        logging.getLogger(name).removeHandler(handler)
    logging.getLogger("kontakt").setLevel(int(_STATE.get("kontakt_level", logging.NOTSET)))  # type: ignore[arg-type]


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    handler = _STATE.get("handler")
    if not isinstance(handler, CprScanHandler):
        return
    uninstall(handler)
    if handler.findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        _STATE["report"] = handler.findings


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    findings = _STATE.get("report")
    handler = _STATE.get("handler")
    if findings:
        terminalreporter.section("CPR numbers in log output or lost log lines", red=True, bold=True)
        for line in findings[:50]:  # type: ignore[index]
            terminalreporter.line(line)
        terminalreporter.line(f"{len(findings)} record(s) with a CPR number or lost; every kontakt log handler"  # type: ignore[arg-type]
                              " must carry bot.privacy.RedactingFilter, and no filter may break a formatter.")
    elif isinstance(handler, CprScanHandler):
        terminalreporter.line(f"cpr-scan: {handler.scanned} product log records, no CPR numbers")
