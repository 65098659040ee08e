"""connectors.voice.speech: spoken Danish transcripts -> text the understanding core reads well."""

from __future__ import annotations

import pytest

from bot.privacy import redact
from connectors.voice.speech import (
    collapse_digit_runs,
    format_phone,
    normalise_transcript,
    phone_number,
    strip_fillers,
    yes_no,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("mit nummer er tre og tredive seksogtres tolv fireogtredive", "mit nummer er 33 66 12 34"),
        ("øh mit nummer er treogtredive seksogtres tolv fireogtredive", "mit nummer er 33 66 12 34"),
        ("Tre og tredive, seksogtres, tolv, fireogtredive.", "33 66 12 34."),
        ("tre tre seks seks en to tre fire", "33 66 12 34"),
        ("plus fem og fyrre tre og tredive seksogtres tolv fireogtredive", "+45 33 66 12 34"),
        ("jeg er fem og halvtreds år", "jeg er 55 år"),
    ],
)
def test_speech_number_words_become_digits(spoken: str, expected: str) -> None:
    assert normalise_transcript(spoken) == expected


@pytest.mark.parametrize(
    "spoken",
    ["mit cpr nummer er tolv nul tre firs et to tre fire", "nul et nul et ni nul en to tre fire"],
)
def test_speech_spoken_cpr_becomes_a_cpr_shape_that_privacy_masks(spoken: str) -> None:
    normalised = normalise_transcript(spoken)
    assert "[CPR]" in redact(normalised)


@pytest.mark.parametrize(
    ("spoken", "expected"),
    [
        ("øh hvornår kommer skraldebilen", "hvornår kommer skraldebilen"),
        ("Øhm, altså, jeg skal have nyt pas", "jeg skal have nyt pas"),
        ("hmm ja", "ja"),
        ("øh", ""),
        ("jeg har altså brug for hjælp", "jeg har brug for hjælp"),
    ],
)
def test_speech_fillers_are_removed(spoken: str, expected: str) -> None:
    assert strip_fillers(spoken) == expected


def test_speech_words_that_are_not_numbers_stay() -> None:
    assert normalise_transcript("jeg har brug for et pas") == "jeg har brug for et pas"
    assert normalise_transcript("jeg har 2 børn på 3 og 5 år") == "jeg har 2 børn på 3 og 5 år"
    assert collapse_digit_runs("i 2019 og 2020") == "i 2019 og 2020"


@pytest.mark.parametrize(
    "text",
    ["mit nummer er tre og tredive seksogtres tolv fireogtredive", "øh pas", "jeg er 55 år", ""],
)
def test_speech_normalisation_is_idempotent(text: str) -> None:
    once = normalise_transcript(text)
    assert normalise_transcript(once) == once


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("33661234", "33661234"),
        ("33 66 12 34", "33661234"),
        ("+45 33 66 12 34", "33661234"),
        ("tre og tredive seksogtres tolv fireogtredive", "33661234"),
        ("tre tre seks seks nul en to tre", "33660123"),
        ("1234", None),
        ("", None),
    ],
)
def test_speech_phone_number(entry: str, expected: str | None) -> None:
    assert phone_number(entry) == expected


def test_speech_format_phone_reads_in_pairs() -> None:
    assert format_phone("33661234") == "33 66 12 34"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ja tak", True),
        ("Ja, det gjorde jeg", True),
        ("nej", False),
        ("en medarbejder", False),
        ("hvad", None),
    ],
)
def test_speech_yes_no(text: str, expected: bool | None) -> None:
    assert yes_no(text) is expected
