"""The expectation texts given with a message or callback. The Danish wording is data, in
bot/resources/tasks_da.yml, read once when this module is imported."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml


def _load_texts() -> dict[str, str]:
    """The Danish defaults; a missing key is a packaging fault and fails at import, naming it."""
    return yaml.safe_load(resources.files("bot.resources").joinpath("tasks_da.yml").read_text("utf-8"))["da"]


_DA = _load_texts()


@dataclass(frozen=True, slots=True)
class TaskTexts:
    """Citizen-facing expectation texts (Danish data, not logic). Placeholders: {phone},
    {deadline} (as 'mandag den 4. januar kl. 10.00'), {opens} (next opening)."""

    callback: str = _DA["callback"]
    callback_slot: str = _DA["callback_slot"]  # {phone}, {slot} ('mandag den 4. januar mellem kl. 10.00 og 10.30')
    message: str = _DA["message"]
    closed_suffix: str = _DA["closed_suffix"]
    callback_hours: float = 2.0  # business hours from the preferred time (or now)
    message_hours: float = 10.0  # one working day on the default schedule
