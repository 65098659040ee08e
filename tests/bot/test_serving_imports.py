"""A serving process understands messages without scikit-learn, scipy or joblib: the models are
served from plain numpy arrays (bot.nlu.lexical), and those libraries cost about 75 MB of memory
in every worker; nor does it import spaCy's command line or the channels' client libraries
before they are used (about 400 modules and 16 MB less after start-up). Checked in a fresh
interpreter, since this test process imports them itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.config import ROOT

pytestmark = pytest.mark.integration

PROGRAM = """
import sys
import bot.__main__, bot.train, connectors.app
from bot.config import Settings
from bot.understanding import Understanding

u = Understanding.load(Settings())
p = u.parse("Min mor er faldet og kan ikke rejse sig")
assert p.decision.action.value == "emergency", p.decision
print(sorted({m.split(".")[0] for m in sys.modules} & {"sklearn", "scipy", "joblib"}))
start_up = {"spacy.cli", "weasel", "typer", "httpx", "requests", "rich", "bs4", "twilio.rest"}
print(sorted(m for m in start_up if m in sys.modules))
import spacy.cli  # the real command line still loads when asked for
print(callable(spacy.cli.download) and spacy.info.__name__)
"""


def test_serving_loads_and_parses_without_training_libraries(understanding) -> None:
    # `understanding` makes sure the model is trained (and in the current format) first.
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    training, start_up, cli = out.stdout.strip().splitlines()[-3:]
    assert training == "[]"
    # spaCy's command line, Twilio's REST client, httpx and BeautifulSoup load where they are
    # first used, not in every server's start-up (bot/nlu/__init__.py, connectors/)
    assert start_up == "[]"
    assert cli == "lazy_info"
