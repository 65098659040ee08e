"""The half-precision shortlist of nearest training examples gives the topic model the same
numbers as reading every example, or steps aside (bot/nlu/neighbours.py), and searches on the
calling thread: no OpenMP helper thread per request thread."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bot.config import ROOT
from bot.nlu import classifier
from bot.nlu.neighbours import SHORTLIST, Shortlist


def _examples(n: int = 3000, dim: int = 64, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    emb = centres[rng.integers(0, 40, n)] + 0.4 * rng.standard_normal((n, dim))
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)


def _texts(emb: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vecs = emb[rng.integers(0, len(emb), 2)] + 0.1 * rng.standard_normal((2, emb.shape[1])).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(20))
def test_the_nearest_examples_and_their_similarities_are_those_of_the_full_product(seed: int) -> None:
    emb = _examples()
    inscope = np.arange(len(emb)) % 7 != 0
    shortlist = Shortlist(emb, inscope, k=10)
    assert shortlist.usable
    vecs = _texts(emb, seed)
    full = classifier.similarities(vecs, emb)
    short = shortlist.similarities(vecs)
    assert short is not None
    for row_full, row_short in zip(full, short, strict=True):
        nearest = np.argsort(-row_full, kind="stable")[:10]
        assert np.array_equal(np.sort(nearest), np.sort(np.argsort(-row_short, kind="stable")[:10]))
        assert np.array_equal(row_short[nearest], row_full[nearest])  # the very same float32 numbers
    assert np.array_equal(classifier.novelty(short[:, inscope]), classifier.novelty(full[:, inscope]))


def test_a_single_text_and_a_tie_at_the_border_read_every_example() -> None:
    emb = _examples()
    vecs = _texts(emb, 1)
    full = classifier.similarities(vecs, emb)
    tenth = np.argsort(-full[0])[9]
    tied = np.vstack([emb, emb[tenth : tenth + 1]])  # a copy of the 10th nearest: which one counts?
    shortlist = Shortlist(tied, np.ones(len(tied), bool), k=10)
    assert shortlist.similarities(vecs[:1]) is None
    assert shortlist.similarities(vecs) is None


def test_a_model_too_small_for_a_shortlist_has_none() -> None:
    emb = _examples(n=2 * SHORTLIST)
    assert not Shortlist(emb, np.ones(len(emb), bool), k=10).usable


@pytest.mark.integration
def test_the_served_model_ranks_a_chat_turn_byte_for_byte_as_without_shortlist(understanding) -> None:
    model = understanding.classifier
    assert model._shortlist is not None and model._shortlist.usable
    texts = ["Hvornår kommer skraldebilen?", "Min mor er faldet \n jeg kan ikke få fat i hende"]
    vecs = understanding.embedder.queries(texts)
    shortlisted = model.predict(texts, vecs)
    kept, model._shortlist = model._shortlist, None
    try:
        everything = model.predict(texts, vecs)
    finally:
        model._shortlist = kept
    assert all(np.array_equal(a, b) for a, b in zip(shortlisted, everything, strict=True))


SEARCHING_THREADS = """
import os, threading
import numpy as np
from bot.nlu.neighbours import Shortlist
from tests.bot.nlu.test_neighbours import _examples, _texts

emb = _examples()
shortlist = Shortlist(emb, np.ones(len(emb), bool), k=10)
vecs = _texts(emb, 1)
searched, done = threading.Barrier(5), threading.Event()
def search():
    shortlist.similarities(vecs)
    searched.wait()
    done.wait()  # alive while the threads are counted, as a server's request threads are
threads = [threading.Thread(target=search) for _ in range(4)]
before = len(os.listdir("/proc/self/task"))
for t in threads: t.start()
searched.wait()
print(len(os.listdir("/proc/self/task")) - before)
done.set()
"""


@pytest.mark.integration
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads counted in /proc (Linux)")
def test_searching_threads_start_no_threads_of_their_own() -> None:
    # In a fresh interpreter with OpenMP's default of one thread per core, as a server has.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    out = subprocess.run([sys.executable, "-c", SEARCHING_THREADS], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**env, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "4"  # the four searching threads, nothing else
