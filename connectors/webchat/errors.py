"""The web chat's expected input errors and their Danish wording (errors_da.yml).

`ChatInputError(code)` is raised where a request or a WebSocket frame is checked; the edge turns
it into `{"error": code, "message": …}` (HTTP) or `{"type": "error", "code", "message"}` (a
WebSocket frame). The message is always the Danish text for the code: it never echoes what the
client sent, so it is safe to send whatever the input was.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from string import Formatter

import yaml

from bot.errors import KontaktError

TEXTS_FILE = "errors_da.yml"


class ChatTextsError(KontaktError):
    """errors_da.yml is missing, malformed, or lacks a code the web chat uses."""


@lru_cache(maxsize=1)
def error_texts() -> dict[str, str]:
    raw = resources.files("connectors.webchat").joinpath(TEXTS_FILE).read_text(encoding="utf-8")
    data = yaml.safe_load(raw)
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                             for k, v in data.items()):  # fmt: skip
        raise ChatTextsError(f"connectors/webchat/{TEXTS_FILE} must map error codes to non-empty texts")
    return data


def placeholders(code: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(error_texts()[code]) if name}


def error_text(code: str, **values: object) -> str:
    """The Danish text for `code`, with its placeholders filled in."""
    texts = error_texts()
    if code not in texts:
        raise ChatTextsError(f"connectors/webchat/{TEXTS_FILE} has no text for the error code {code!r}")
    return texts[code].format(**values)


class ChatInputError(ValueError):
    """A request or frame the web chat cannot use; `status` is the HTTP status to answer."""

    def __init__(self, code: str, status: int = 422, **values: object) -> None:
        super().__init__(error_text(code, **values))
        self.code, self.status, self.values = code, status, values
