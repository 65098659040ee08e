"""No CPR number in log output and no log line lost: the scanner plugin (tests/cpr_scan_plugin.py)
catches a planted CPR and a line a formatter could not write, and the product puts
RedactingFilter on its log handlers."""

from __future__ import annotations

import logging
import logging.config
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cpr_scan_plugin import CprScanHandler, find_cprs

from bot.privacy import RedactingFilter

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "found"),
    [("cpr 010190-1234", ["010190-1234"]), ("0101901234", ["0101901234"]), ("311299-0000 x", ["311299-0000"]),
     ("320190-1234", []), ("011390-1234", []), ("[CPR]", []), ("id 12010190123456", []), ("tlf 20123456", []),
     ("290200-1234", ["290200-1234"]), ("290201-1234", []), ("310490-1234", [])],
)  # fmt: skip
def test_log_privacy_scanner_pattern(text: str, found: list[str]) -> None:
    assert find_cprs(text) == found


@pytest.mark.unit
def test_log_privacy_scanner_catches_planted_cpr_without_filter_and_not_with_it() -> None:
    logger = logging.getLogger("kontakt.planted")
    logger.propagate = False
    bare, filtered = CprScanHandler(), CprScanHandler()
    filtered.addFilter(RedactingFilter())
    for h in (bare, filtered):
        logger.addHandler(h)
    try:
        logger.warning("borger %s skrev", "010190-1234")
        try:
            raise ValueError("ukendt 0101901234")
        except ValueError:
            logger.exception("opslag fejlede")
    finally:
        for h in (bare, filtered):
            logger.removeHandler(h)
        logger.propagate = True
    assert len(bare.findings) == 2 and "010190" not in "".join(bare.findings)  # reported masked
    assert filtered.findings == [] and filtered.scanned == 2


def _access_record(path: str) -> logging.LogRecord:
    """A record as uvicorn's access logger makes it: five arguments its formatter unpacks."""
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                             ("127.0.0.1:5000", "GET", path, "1.1", 200), None)  # fmt: skip


@pytest.mark.unit
def test_log_privacy_scanner_reports_an_access_line_its_formatter_cannot_write() -> None:
    handler = CprScanHandler()
    record = _access_record("/health")
    record.msg, record.args = "flattened by a careless filter", ()
    handler.handle(record)
    assert handler.scanned == 0 and len(handler.findings) == 1 and "line lost" in handler.findings[0]


@pytest.mark.unit
def test_log_privacy_filtered_access_line_is_written_redacted() -> None:
    bare, filtered = CprScanHandler(), CprScanHandler()
    filtered.addFilter(RedactingFilter())
    bare.handle(_access_record("/agent/api/tasks?cpr=0101901234"))
    filtered.handle(_access_record("/agent/api/tasks?cpr=0101901234"))
    assert len(bare.findings) == 1 and "line lost" not in bare.findings[0]
    assert filtered.findings == [] and filtered.scanned == 1


@pytest.mark.unit
def test_log_privacy_scanner_ignores_the_tests_own_loggers() -> None:
    handler = CprScanHandler()
    logger = logging.getLogger("tests.privacy.planted")
    logger.addHandler(handler)
    try:
        logger.warning("010190-1234")
    finally:
        logger.removeHandler(handler)
    assert handler.findings == []


@pytest.mark.integration
@pytest.mark.parametrize(("planted", "code"), [(True, 1), (False, 0)])
def test_log_privacy_plugin_fails_a_run_that_logs_a_cpr(tmp_path: Path, planted: bool, code: int) -> None:
    test = tmp_path / "test_planted.py"
    value = "010190-1234" if planted else "[CPR]"
    test.write_text(textwrap.dedent(f"""
        import logging
        def test_logs():
            logging.getLogger("kontakt.voice").warning("call from %s", "{value}")
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "cpr_scan_plugin",
         "-o", "addopts=", "--rootdir", str(tmp_path), str(test)],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == code, result.stdout + result.stderr
    if planted:
        assert "CPR numbers in log output" in result.stdout and "kontakt.voice" in result.stdout
        assert "010190-1234" not in result.stdout
    else:
        assert "no CPR numbers" in result.stdout


@pytest.mark.integration
def test_log_privacy_plugin_fails_a_run_that_loses_a_log_line(tmp_path: Path) -> None:
    test = tmp_path / "test_lost.py"
    test.write_text(textwrap.dedent("""
        import io, logging
        class Broken(logging.Formatter):
            def format(self, record):
                raise TypeError("not all arguments converted")
        def test_logs():
            handler = logging.StreamHandler(io.StringIO())
            handler.setFormatter(Broken())
            logger = logging.getLogger("kontakt.lost")
            logger.addHandler(handler)
            try:
                logger.warning("call from %s", "[CPR]")
            finally:
                logger.removeHandler(handler)
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "cpr_scan_plugin",
         "-o", "addopts=", "--rootdir", str(tmp_path), str(test)],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "line lost by the formatter (TypeError" in result.stdout and "kontakt.lost" in result.stdout


@pytest.mark.unit
def test_log_privacy_create_app_filters_root_and_access_handlers(settings, tmp_path: Path) -> None:
    from bot.api import create_app

    root_handler, access_handler = logging.StreamHandler(), logging.StreamHandler()
    logging.getLogger().addHandler(root_handler)
    logging.getLogger("uvicorn.access").addHandler(access_handler)
    try:
        create_app(settings)
        for h in (root_handler, access_handler):
            assert any(isinstance(f, RedactingFilter) for f in h.filters)
    finally:
        logging.getLogger().removeHandler(root_handler)
        logging.getLogger("uvicorn.access").removeHandler(access_handler)


@pytest.mark.unit
def test_log_privacy_uvicorn_error_handler_is_filtered_when_serving(settings) -> None:
    from uvicorn.config import LOGGING_CONFIG

    from bot.api import create_app

    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).propagate)
             for n in ("uvicorn", "uvicorn.access", "uvicorn.error")}
    try:
        logging.config.dictConfig(LOGGING_CONFIG)  # what uvicorn does before importing the app
        create_app(settings)
        handlers = logging.getLogger("uvicorn").handlers + logging.getLogger("uvicorn.error").handlers
        assert handlers and all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in handlers)
    finally:
        for n, (hs, prop) in saved.items():
            logger = logging.getLogger(n)
            logger.handlers[:] = hs
            logger.propagate = prop
