"""Understanding the text: normalisation, the spaCy pipeline, entities, the topic classifier.

spaCy is imported here, before any module of this package uses it, without its command line:
the package's `__init__` imports `spacy.cli.info`, and with it every command (weasel, typer,
requests, jinja2, rich, httpx): about 360 modules and 0.24 s of CPU in every serving process,
which never runs a spaCy command. A placeholder stands in for `spacy.cli.info` while spaCy
imports and is removed at once, so `import spacy.cli` later (training tools, `spacy.info()`)
loads the real command line."""

from __future__ import annotations

import sys
import types
from typing import Any


def _import_spacy_without_cli() -> None:
    if "spacy" in sys.modules or "spacy.cli" in sys.modules:
        return  # already imported (with its command line) by someone else: nothing to save
    cli = types.ModuleType("spacy.cli")
    cli.__path__ = []  # a package, so that `spacy.cli.info` can be found in sys.modules
    info = types.ModuleType("spacy.cli.info")

    def lazy_info(*args: Any, **kwargs: Any) -> Any:
        """`spacy.info`, importing the real command line when first called."""
        from spacy.cli.info import info as real

        return real(*args, **kwargs)

    info.info = lazy_info  # type: ignore[attr-defined]
    cli.info = info  # type: ignore[attr-defined]
    sys.modules["spacy.cli"], sys.modules["spacy.cli.info"] = cli, info
    try:
        import spacy
    finally:
        del sys.modules["spacy.cli"], sys.modules["spacy.cli.info"]
    if getattr(spacy, "cli", None) is cli:
        del spacy.cli  # `import spacy.cli` sets the real one


_import_spacy_without_cli()
