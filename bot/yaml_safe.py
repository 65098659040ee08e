"""`safe_load` on libyaml when PyYAML was built with it: the same documents as `yaml.safe_load`
(the constructor is the same Python code; only scanning and parsing are in C), about ten times
faster. Start-up reads the topic contract and every article's front matter twice: 1.2 s of the
server's start-up CPU with the pure-Python parser (2-core machine, 80 articles)."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """The one YAML document in `text`; raises `yaml.YAMLError` as `yaml.safe_load` does."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
