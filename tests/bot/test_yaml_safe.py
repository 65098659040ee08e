"""`bot.yaml_safe.safe_load` (libyaml) reads every YAML file the product ships exactly as
`yaml.safe_load` (pure Python) does: resources, topic contract, tenants, articles' front matter,
local overlays, prompts and mail templates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import ROOT
from bot.yaml_safe import safe_load

FILES = sorted(
    p for folder in ("bot/resources", "knowledge", "connectors", "nlu_data")
    for p in (ROOT / folder).rglob("*") if p.suffix in (".yml", ".yaml")
)  # fmt: skip


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_libyaml_reads_what_the_python_parser_reads(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert safe_load(text) == yaml.safe_load(text)


def test_front_matter_of_every_article_reads_the_same() -> None:
    articles = sorted((ROOT / "knowledge").rglob("*.md"))
    assert articles
    for path in articles:
        text = path.read_text(encoding="utf-8")
        if text.startswith("---\n"):
            front = text.split("---\n")[1]
            assert safe_load(front) == yaml.safe_load(front), path


def test_errors_are_yaml_errors() -> None:
    with pytest.raises(yaml.YAMLError):
        safe_load("a: [1, 2\nb: 3")
