"""A serving process understands messages without scikit-learn, scipy or joblib: the models are
served from plain numpy arrays (bot.nlu.lexical), and those libraries cost about 75 MB of memory
in every worker. Checked in a fresh interpreter, since this test process imports them itself."""

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
"""


def test_serving_loads_and_parses_without_training_libraries(understanding) -> None:
    # `understanding` makes sure the model is trained (and in the current format) first.
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
