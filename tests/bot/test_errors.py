"""The one table from errors to HTTP statuses (bot/errors.py)."""

from __future__ import annotations

import inspect

import pytest

from bot import errors
from bot.errors import HTTP_STATUS, KontaktError, http_status

pytestmark = pytest.mark.unit

ERRORS = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, KontaktError)]


def _make(cls: type[KontaktError]) -> KontaktError:
    exc = cls.__new__(cls)  # the status depends on the type only, not on the constructor's arguments
    Exception.__init__(exc, "x")
    return exc


def test_errors_table_no_entry_is_shadowed_by_an_earlier_base() -> None:
    for i, (cls, _) in enumerate(HTTP_STATUS):
        earlier = [base for base, _ in HTTP_STATUS[:i] if issubclass(cls, base)]
        assert earlier == [], f"{cls.__name__} comes after its base {earlier[0].__name__}"


@pytest.mark.parametrize("cls", [c for c in ERRORS if issubclass(c, LookupError)], ids=lambda c: c.__name__)
def test_errors_lookups_are_404(cls: type[KontaktError]) -> None:
    assert http_status(_make(cls)) == 404


def test_errors_503_only_for_unavailability() -> None:
    unavailable = {cls.__name__ for cls, status in HTTP_STATUS if status == 503}
    assert unavailable == {"AuthNotConfigured", "DatabaseUnavailable", "SmtpUnavailable", "ImapUnavailable",
                           "ModelNotBuilt"}  # fmt: skip


def test_errors_not_listed_are_a_fault_of_ours() -> None:
    assert http_status(errors.IndexMismatch("built with another embedder")) == 500


@pytest.mark.parametrize(("exc", "status"), [
    (errors.UnknownSession("abcdefghijklmnop"), 404),
    (errors.FeedbackAlreadyRecorded("abcdefghijklmnop"), 409),
    (errors.InvalidParameter("date"), 422),
    (errors.NoHistory("no weeks"), 422),
    (errors.IllegalTransition("closed", "reply"), 409),
    (errors.NotAuthenticated("no token"), 401),
])  # fmt: skip
def test_errors_examples(exc: KontaktError, status: int) -> None:
    assert http_status(exc) == status
