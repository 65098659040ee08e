"""A pytest plugin that fails the run when a CPR number reaches kontakt's log output.

For the whole session it puts `CprScanHandler` on the root logger and on the uvicorn loggers
(which do not propagate when uvicorn configures them) and lowers `kontakt` to INFO, so every
product record (loggers kontakt*, bot*, connectors*, eval*, uvicorn*, fastapi, starlette, httpx,
sqlalchemy, alembic) passes through it. The handler is an ordinary log handler: it gets the
RedactingFilter exactly when the product installs it on its handlers (`create_app`, the CLI), and
it formats each record after its filters, as a real handler would write it. At session end, any
formatted record containing a valid-looking CPR number (DDMMYY-XXXX or DDMMYYXXXX with a real
day and month) fails the run; the report shows the logger and the line with the digits masked.

Records of the tests' own loggers (e.g. tests.privacy, which logs CPR numbers on purpose through
its own filtered handler) are not scanned.

Enable from tests/conftest.py with `pytest_plugins = ["cpr_scan_plugin"]` (tests/ is on sys.path
there), or for one run with `-p cpr_scan_plugin`.
"""

from __future__ import annotations

import logging
import re

import pytest

CPR_IN_LOG = re.compile(r"(?<!\d)(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2}-?\d{4}(?!\d)")
PRODUCT_LOGGERS = ("kontakt", "bot", "connectors", "eval", "uvicorn", "fastapi", "starlette", "httpx",
                   "sqlalchemy", "alembic", "root")  # fmt: skip
NON_PROPAGATING = ("uvicorn", "uvicorn.access", "uvicorn.error")


def find_cprs(text: str) -> list[str]:
    """Every CPR-looking number in `text` (valid day 01-31 and month 01-12)."""
    return CPR_IN_LOG.findall(text)


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
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a broken record is the test's problem, not ours
            return
        self.scanned += 1
        if find_cprs(text):
            masked = CPR_IN_LOG.sub("<CPR!>", text).replace("\n", " | ")
            self.findings.append(f"{record.name} ({record.pathname}:{record.lineno}): {masked[:300]}")


_STATE: dict[str, object] = {}


def install() -> CprScanHandler:
    handler = CprScanHandler()
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
        terminalreporter.section("CPR numbers in log output", red=True, bold=True)
        for line in findings[:50]:  # type: ignore[index]
            terminalreporter.line(line)
        terminalreporter.line(f"{len(findings)} record(s) with a CPR number; every kontakt log handler"  # type: ignore[arg-type]
                              " must carry bot.privacy.RedactingFilter.")
    elif isinstance(handler, CprScanHandler):
        terminalreporter.line(f"cpr-scan: {handler.scanned} product log records, no CPR numbers")
