"""Tests for bot.privacy: redaction of CPR numbers, phone numbers, e-mail addresses and spoken
digit strings, and the logging filter that applies it to every record."""

from __future__ import annotations

import io
import logging

import pytest

from bot.privacy import CPR_MASK, RedactingFilter, contains_cpr, redact

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mit cpr er 010190-1234", "mit cpr er [CPR]"),
        ("mit cpr er 0101901234", "mit cpr er [CPR]"),
        ("mit cpr er 010190 1234", "mit cpr er [CPR]"),
        ("cpr:010190-1234.", "cpr:[CPR]."),
        # recall first: not a valid date, still masked
        ("nummeret er 451390-1234", "nummeret er [CPR]"),
        ("ring på 22 33 44 55", "ring på [TELEFON]"),
        ("ring på +45 22334455", "ring på [TELEFON]"),
        ("ring på 0045 22 33 44 55 i morgen", "ring på [TELEFON] i morgen"),
        ("min mail er Jens.Hansen+kommune@mail.example.dk tak", "min mail er [E-MAIL] tak"),
        ("mit cpr er nul et nul et ni nul et to tre fire", "mit cpr er [TAL]"),
        ("nummeret er to to tre tre fire fire fem fem", "nummeret er [TAL]"),
    ],
)
def test_privacy_redact_masks_personal_data(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "hvornår kommer skraldebilen til Vestergade 12",
        "sagsnr. 2024-12345",
        "jeg har to børn og en hund",  # a few number words are ordinary Danish
        "postnummer 2200",
    ],
)
def test_privacy_redact_leaves_ordinary_text(text: str) -> None:
    assert redact(text) == text


def test_privacy_redact_several_items_in_one_text() -> None:
    text = "cpr 010190-1234, tlf 22 33 44 55, mail a@b.dk"
    assert redact(text) == "cpr [CPR], tlf [TELEFON], mail [E-MAIL]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("010190-1234", True), ("0101901234", True), ("010190 1234", True), ("22 33 44 55", False), ("2024-12345", False)],
)
def test_privacy_contains_cpr(text: str, expected: bool) -> None:
    assert contains_cpr(text) is expected


@pytest.fixture
def redacted_log() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.privacy")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def test_privacy_filter_masks_cpr_in_arguments(redacted_log) -> None:
    logger, stream = redacted_log
    logger.info("borger %s ringede om %s", "010190-1234", "boligstøtte")
    assert stream.getvalue() == f"INFO borger {CPR_MASK} ringede om boligstøtte\n"


def test_privacy_filter_masks_cpr_in_message(redacted_log) -> None:
    logger, stream = redacted_log
    logger.warning("besked: mit cpr er 0101901234")
    assert stream.getvalue() == f"WARNING besked: mit cpr er {CPR_MASK}\n"


def test_privacy_filter_leaves_clean_records_alone(redacted_log) -> None:
    logger, stream = redacted_log
    logger.info("kø %s har %d ventende", "borgerservice_basis", 3)
    assert stream.getvalue() == "INFO kø borgerservice_basis har 3 ventende\n"


def test_privacy_filter_with_caplog(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.privacy.caplog")
    redacting = RedactingFilter()
    caplog.handler.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger="tests.privacy.caplog"):
            logger.info("opkald fra %s", "010190 1234")
    finally:
        caplog.handler.removeFilter(redacting)
    assert caplog.messages == [f"opkald fra {CPR_MASK}"]
    assert "010190" not in caplog.text
