"""`python -m bot train`: validate data, embed, fit the classifier, build the article index."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from bot.config import Settings
from bot.errors import TrainingDataError
from bot.model_stamp import MANIFEST_FILE, STAMP_FILE, input_state, inputs_stamp, stamp_matches, write_stamp
from bot.nlu import training_data
from bot.nlu.classifier import MODEL_JSON as CLASSIFIER_JSON
from bot.nlu.classifier import TopicClassifier, TopicModel, out_of_sample_rows
from bot.retrieval.articles import Article, load_articles
from bot.retrieval.embedder import Embedder, make_embedder
from bot.retrieval.index import ArticleIndex
from bot.safety import safety_chunks
from bot.safety_model import (
    SafetyClassifier,
    SafetyExample,
    SafetyModel,
    examples_from_topics,
    load_corpus,
    merge_examples,
    sensitive_handoff_topics,
    with_none_windows,
)
from bot.topics import EMERGENCY, TopicContract, load_contract

# The served models are plain numpy arrays and JSON (scikit-learn is for training only); the
# manifest records this format, and a model in another format is retrained, never unpickled.
MODEL_FORMAT = "kontakt.numpy.v1"
OLD_MODEL_FILES = ("classifier.joblib", "safety.joblib")  # format of models built before numpy.v1
SAFETY_CORPUS_DIR = "safety"  # under nlu_data/
MIN_EXAMPLES = 25


def check_training_data(data: training_data.TrainingData, contract: TopicContract) -> None:
    by_intent = data.by_intent()
    unknown = sorted(set(by_intent) - set(contract.by_id))
    if unknown:
        raise TrainingDataError("nlu_data", f"intents that are not topic ids: {unknown}")
    thin = sorted(t.id for t in contract.topics if len(by_intent.get(t.id, ())) < MIN_EXAMPLES)
    if thin:
        raise TrainingDataError("nlu_data", f"topics with fewer than {MIN_EXAMPLES} examples: {thin}")


GOVERNANCE_FIELDS = {"owner", "reviewed", "review_interval_days"}


def data_hash(
    data: training_data.TrainingData, articles: list[Article], embedder: str,
    safety_corpus: list[SafetyExample] | tuple[()] = (),
) -> str:
    h = hashlib.sha256(embedder.encode())
    for ex in data.examples:
        h.update(f"{ex.intent}\t{ex.text}\n".encode())
    for sx in safety_corpus:
        h.update(f"{sx.label}\t{sx.kind}\t{sx.topic}\t{sx.text}\n".encode())
    h.update(training_data.dumps(training_data.TrainingData(synonyms=data.synonyms, lookups=data.lookups)).encode())
    for a in articles:  # who owns an article and when it was reviewed shape no model
        h.update(a.model_dump_json(exclude=GOVERNANCE_FIELDS).encode())
    return h.hexdigest()[:16]


EMBED_BATCH = 256  # texts per native call: one pass streams the weights once for the whole batch
FIT_CACHE = "fits"  # under cache_dir: fitted models keyed by everything that shapes them


def embed_cached(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path, kind: str, desc: str, batch: int = EMBED_BATCH
) -> np.ndarray:
    """Embeddings cached per text (SHA-1 of the text, in one file per embedder name and kind), so
    editing one file re-embeds only what changed. Texts still missing are embedded once each, in
    large batches of similar length (the native engine streams its weights once per batch)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{embedder.name}.{kind}.npz"
    cache: dict[str, np.ndarray] = {}
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                cache = dict(zip(z["keys"].tolist(), z["vecs"], strict=True))
        except (OSError, ValueError, KeyError):
            cache = {}  # a damaged cache is rebuilt, never trusted
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k not in cache:
            first.setdefault(k, i)
    todo = sorted(first.values(), key=lambda i: len(texts[i]))
    encode = embedder.queries if kind == "query" else embedder.passages
    with tqdm(total=len(first) + (len(set(keys)) - len(first)), initial=len(set(keys)) - len(first),
              desc=desc, unit="text") as bar:
        for s in range(0, len(todo), batch):
            idx = todo[s : s + batch]
            vecs = encode([texts[i] for i in idx])
            for i, v in zip(idx, vecs, strict=True):
                cache[keys[i]] = np.asarray(v, dtype=np.float32)
            bar.update(len(idx))
    if todo:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, keys=np.array(list(cache)), vecs=np.stack(list(cache.values())))
        tmp.replace(path)
    if not keys:
        return np.zeros((0, embedder.dim), np.float32)
    return np.stack([cache[k] for k in keys]).astype(np.float32)


def fit_key(kind: str, embedder: str, texts: Sequence[str], labels: Sequence[str], config: object,
            modules: Sequence[str]) -> str:
    """What a fitted model depends on: its training texts and labels, the embedder, its config,
    the source of the modules that fit it, and the scikit-learn version."""
    import importlib
    from importlib.metadata import version

    h = hashlib.sha256(f"{kind}\n{embedder}\n{config!r}\n{version('scikit-learn')}\n".encode())
    for name in modules:
        h.update(Path(importlib.import_module(name).__file__).read_bytes())
    for label, text in zip(labels, texts, strict=True):
        h.update(f"{label}\t{text}\n".encode())
    return h.hexdigest()[:20]


class _Saved(Protocol):
    def save(self, directory: Path) -> list[str]: ...


M = TypeVar("M")


def _cached_fit(cache_dir: Path, kind: str, key: str, load: Callable[[Path], M]) -> M | None:
    path = cache_dir / FIT_CACHE / f"{kind}.{key}"
    if not path.is_dir():
        return None
    try:
        return load(path)
    except Exception:  # noqa: BLE001 - a damaged cache entry is refitted, never trusted
        return None


def _store_fit(cache_dir: Path, kind: str, key: str, model: _Saved, folds: Folds | None = None) -> None:
    d = cache_dir / FIT_CACHE
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob(f"{kind}.*"):  # keep one entry per kind: the cache never grows
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=d, prefix=f".{kind}.tmp"))
    model.save(tmp)
    if folds is not None:
        folds.save(tmp)
    os.replace(tmp, d / f"{kind}.{key}")


# A fit may reuse the out-of-fold rows of the previous one when at most this share of its examples
# were added, removed or relabelled, and at most this share of its rows did not come from folds.
INCREMENTAL_SHARE = 0.02
FOLDS_FILE = "folds.npz"  # beside a cached fit, never served


def example_keys(labels: Sequence[str], texts: Sequence[str]) -> list[str]:
    """One key per example: its text and everything that labels it."""
    return [hashlib.sha1(f"{label}\t{text}".encode()).hexdigest() for label, text in zip(labels, texts, strict=True)]


@dataclass(frozen=True)
class Folds:
    """The out-of-fold rows of a fit, per example key. `base`: the fit key of everything but the
    examples (config, code, embedder, scikit-learn), which must match for the rows to be reused.
    `borrowed`: rows that came from an earlier final model rather than a fold."""

    base: str
    keys: list[str]
    rows: np.ndarray
    sim: np.ndarray
    borrowed: np.ndarray

    def save(self, directory: Path) -> None:
        np.savez(directory / FOLDS_FILE, base=np.array(self.base), keys=np.array(self.keys), rows=self.rows,
                 sim=self.sim, borrowed=self.borrowed)

    @classmethod
    def load(cls, directory: Path) -> Folds:
        with np.load(directory / FOLDS_FILE, allow_pickle=False) as z:
            return cls(str(z["base"]), z["keys"].tolist(), z["rows"], z["sim"], z["borrowed"].astype(bool))


@dataclass(frozen=True)
class Reuse:
    """How to fit after a small edit: `previous` (the cached fit), for each current example the
    row of its kept out-of-fold prediction (-1: new, to be predicted by the previous model)."""

    previous: Path
    folds: Folds
    rows: np.ndarray
    changed: int

    def compose(self, new_rows: np.ndarray, new_sim: np.ndarray | None = None) -> Folds:
        """Every example's out-of-fold row: kept ones from the previous fit, new ones given."""
        new = self.rows < 0
        rows = np.zeros((len(self.rows), self.folds.rows.shape[1]))
        rows[~new] = self.folds.rows[self.rows[~new]]
        rows[new] = new_rows
        sim = np.zeros(len(self.rows))
        sim[~new] = self.folds.sim[self.rows[~new]]
        if new_sim is not None:
            sim[new] = new_sim
        borrowed = new.copy()
        borrowed[~new] = self.folds.borrowed[self.rows[~new]]
        return Folds(self.folds.base, [], rows, sim, borrowed)


def plan_reuse(cache_dir: Path, kind: str, base: str, keys: Sequence[str], full: bool = False,
               topics: Sequence[str] | None = None, share: float = INCREMENTAL_SHARE) -> tuple[Reuse | None, str]:
    """The reuse of the previous fit of `kind`, or None and why a full fit is needed. `full`:
    never reuse; `topics`: the labels a topic classifier's previous fit must have had."""
    if full:
        return None, "--full"
    entries = [p for p in (cache_dir / FIT_CACHE).glob(f"{kind}.*") if p.is_dir()]
    if not entries:
        return None, "no previous fit"
    try:
        folds = Folds.load(entries[0])
    except (OSError, ValueError, KeyError):
        return None, "the previous fit kept no out-of-fold rows"
    if folds.base != base:
        return None, "the configuration or code changed"
    where = {k: i for i, k in enumerate(folds.keys)}
    rows = np.array([where.get(k, -1) for k in keys], np.int64)
    current = set(keys)
    changed = int((rows < 0).sum()) + sum(1 for k in where if k not in current)
    borrowed = int((rows < 0).sum()) + int(folds.borrowed[rows[rows >= 0]].sum())
    limit = share * len(keys)
    if changed > limit:
        return None, f"{changed} changed examples, more than {share:.0%}"
    if borrowed > limit:
        return None, f"{borrowed} examples since the last full fit, more than {share:.0%}"
    if topics is not None and _labels_of(entries[0]) != list(topics):
        return None, "the topics changed"
    return Reuse(entries[0], folds, rows, changed), ""


def _fit_topic(texts: list[str], labels: list[str], embeddings: np.ndarray, base: str, reuse: Reuse | None,
               n_jobs: int | None) -> tuple[TopicModel, Folds, dict[str, int]]:
    """The topic classifier, with its out-of-fold rows for the next fit. With `reuse`, only the
    final model is fitted, warm-started from the previous one, and the examples new since then
    get their out-of-fold rows from the previous model, which never saw them."""
    keys = example_keys(labels, texts)
    warm, oof, borrowed = None, None, np.zeros(len(texts), bool)
    if reuse is not None:
        warm = TopicModel.load(reuse.previous)
        new = np.flatnonzero(reuse.rows < 0)
        probs, sim = (out_of_sample_rows(warm, [texts[i] for i in new], embeddings[new]) if len(new)
                      else (np.zeros((0, len(warm.labels))), np.zeros(0)))
        composed = reuse.compose(probs, sim)
        oof, borrowed = (composed.rows, composed.sim), composed.borrowed
    steps = tqdm(total=1 if reuse else TopicClassifier().config.folds + 1, desc="fitting classifier", unit="step")
    clf = TopicClassifier().fit(texts, labels, embeddings, n_jobs=n_jobs, oof=oof, warm=warm,
                                progress=lambda msg: (steps.set_postfix_str(msg), steps.update(1)))
    steps.close()
    assert clf.oof is not None
    return clf.export(), Folds(base, keys, clf.oof[0], clf.oof[1], borrowed), clf.iterations


def _fit_safety(examples: list[SafetyExample], embeddings: np.ndarray, base: str, reuse: Reuse | None,
                threads: int | None = 1) -> tuple[SafetyModel, Folds, dict[str, int]]:
    """The safety model, as `_fit_topic` does the topic classifier (`threads` 1: in a worker
    process, next to the topic classifier's fit, one core each)."""
    keys = example_keys(_safety_labels(examples), [e.text for e in examples])
    with threadpool_limits(limits=threads):
        warm, oof, borrowed = None, None, np.zeros(len(examples), bool)
        if reuse is not None:
            warm = SafetyModel.load(reuse.previous)
            new = np.flatnonzero(reuse.rows < 0)
            probs = (warm.predict([examples[i].text for i in new], embeddings[new]) if len(new)
                     else np.zeros((0, len(SafetyModel.labels))))
            composed = reuse.compose(probs)
            oof, borrowed = composed.rows, composed.borrowed
        clf = SafetyClassifier().fit(examples, embeddings, oof=oof, warm=warm)
        assert clf.oof is not None
        return clf.export(), Folds(base, keys, clf.oof, np.zeros(len(examples)), borrowed), {"safety": clf.iterations}


def _context_patterns() -> str:
    """What shapes the safety model's time-and-context columns besides the text: the lexicon's
    context and figure-of-speech patterns (a change of its danger words shapes no model)."""
    from importlib import resources

    from bot.safety import _CONTEXT_NOT_NOW, _CONTEXT_NOW, _FIGURATIVE
    from bot.yaml_safe import safe_load

    raw = safe_load(resources.files("bot.resources").joinpath("safety_da.yml").read_text("utf-8"))
    picked = {k: raw.get(k) for k in (_CONTEXT_NOT_NOW, _CONTEXT_NOW, _FIGURATIVE)}
    return hashlib.sha256(json.dumps(picked, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def _labels_of(previous: Path) -> list[str]:
    """The topics of a cached topic classifier, read without loading its arrays."""
    try:
        return list(json.loads((previous / CLASSIFIER_JSON).read_text(encoding="utf-8"))["labels"])
    except (OSError, ValueError, KeyError):
        return []


def _safety_labels(examples: Sequence[SafetyExample]) -> list[str]:
    """What labels a safety example for its fit: the label, whether it came from topic data, its weight."""
    return [f"{e.label}|{e.source == 'topics'}|{e.weight}" for e in examples]


def load_training_data(settings: Settings, contract: TopicContract, articles: list[Article]) -> training_data.TrainingData:
    """`nlu_data/` plus the example questions editors added to articles in published versions
    (bot/knowledge/training.py), each once per topic."""
    from bot.knowledge.overlay import load_local
    from bot.knowledge.training import editor_examples, published_versions
    from bot.tenants import load_tenants

    data = training_data.load_dir(settings.nlu_data_dir)
    versions = published_versions(settings.database_url)
    if not versions:
        return data
    tenant_ids = [t.id for t in load_tenants(settings.tenants_file).tenants]
    local = load_local(settings.articles_dir.parent / "local", articles, tenant_ids)
    seen = {(e.intent, e.text.casefold()) for e in data.examples}
    for ex in editor_examples(versions, {a.id: a for a in articles}, local):
        if ex.intent in contract.by_id and (ex.intent, ex.text.casefold()) not in seen:
            seen.add((ex.intent, ex.text.casefold()))
            data.examples.append(ex)
    return data


def is_fresh(settings: Settings) -> bool:
    """True when the model on disk was built from the current data with the configured embedder.
    The stamp of bot/model_stamp.py answers when the inputs are as they were at the last yes;
    otherwise every input is read and hashed, and a yes renews the stamp."""
    if stamp_matches(settings):
        return True
    state = input_state(settings)  # before reading: a file edited meanwhile is read again next time
    try:
        manifest = json.loads((settings.model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        contract = load_contract(settings.topics_file)
        articles = load_articles(settings.articles_dir, contract)
        data = load_training_data(settings, contract, articles)
        corpus = load_safety_corpus(settings, contract)
    except (OSError, ValueError):
        return False
    fresh = (manifest.get("format", {}).get("version") == MODEL_FORMAT
             and manifest.get("data_hash") == data_hash(data, articles, settings.embedder, corpus))
    if fresh:
        write_stamp(settings, inputs_stamp(settings, state))
    return fresh


def load_safety_corpus(settings: Settings, contract: TopicContract) -> list[SafetyExample]:
    return load_corpus(settings.nlu_data_dir / SAFETY_CORPUS_DIR, sensitive_handoff_topics(contract))


def train(settings: Settings, log=print, parallel: bool = True, full: bool = False) -> dict:
    """Fit everything into settings.model_dir. Embeddings and fitted models are cached by content
    in settings.cache_dir, so a rerun after editing one file redoes only what that file shapes
    (an article: the index; a safety file: the safety model; an nlu_data file: both models).
    `parallel`: fit the safety model in a second process while the topic classifier fits here.
    After a small edit (`plan_reuse`) a model keeps the out-of-fold rows of its previous fit and
    fits only its final model, warm-started; `full` refits everything, folds included."""
    started = time.perf_counter()
    state = input_state(settings)  # the inputs as read below, for the start-up stamp
    contract = load_contract(settings.topics_file)
    articles = load_articles(settings.articles_dir, contract)
    data = load_training_data(settings, contract, articles)
    check_training_data(data, contract)
    corpus = load_safety_corpus(settings, contract)
    embedder = make_embedder(settings.embedder, cache_dir=settings.cache_dir)
    log(f"training on {len(data.examples)} examples in {len(data.intents)} topics, {len(articles)} articles")
    timings: dict[str, float] = {}

    texts = [e.text for e in data.examples]
    labels = [e.intent for e in data.examples]
    safety_examples = with_none_windows(merge_examples(
        corpus, examples_from_topics(zip(labels, texts), EMERGENCY, sensitive_handoff_topics(contract))
    ), safety_chunks)
    stexts = [e.text for e in safety_examples]
    t = time.perf_counter()
    # One pass over every distinct user-side text (topic examples and the safety corpus overlap).
    qvecs = embed_cached(embedder, [*texts, *stexts], settings.cache_dir, "query", "embedding examples")
    x, sx = qvecs[: len(texts)], qvecs[len(texts) :]
    timings["embed_examples"] = time.perf_counter() - t
    t_index = time.perf_counter()
    passages = [p for a in articles for p in a.passages()]
    pvecs = embed_cached(embedder, passages, settings.cache_dir, "passage", "embedding articles")
    index = ArticleIndex.build(articles, embedder, vectors=pvecs)
    index_seconds = time.perf_counter() - t_index

    t = time.perf_counter()
    clf_modules = ("bot.nlu.classifier", "bot.nlu.lexical", "bot.nlu.text")
    # bot.safety: the context columns read its patterns through its functions.
    safety_modules = ("bot.safety_model", "bot.safety", "bot.nlu.lexical", "bot.nlu.text")
    slabels = _safety_labels(safety_examples)
    clf_key = fit_key("classifier", embedder.name, texts, labels, TopicClassifier().config, clf_modules)
    safety_config = (SafetyClassifier().config, _context_patterns())
    safety_key = fit_key("safety", embedder.name, stexts, slabels, safety_config, safety_modules)
    clf: TopicModel | None = None
    safety: SafetyModel | None = None
    # `full`: no cached fit at all; a cached fit may itself be incremental.
    if not full:
        clf = _cached_fit(settings.cache_dir, "classifier", clf_key, TopicModel.load)
        safety = _cached_fit(settings.cache_dir, "safety", safety_key, SafetyModel.load)
    clf_base = fit_key("classifier", embedder.name, [], [], TopicClassifier().config, clf_modules)
    safety_base = fit_key("safety", embedder.name, [], [], safety_config, safety_modules)
    modes = {"classifier": "cached" if clf else "full", "safety": "cached" if safety else "full"}
    clf_reuse = safety_reuse = None
    for kind, name, done, base, keys in (
        ("classifier", "topic classifier", clf, clf_base, example_keys(labels, texts)),
        ("safety", "safety model", safety, safety_base, example_keys(slabels, stexts)),
    ):
        if done is not None:
            log(f"{name}: unchanged data, reusing the cached fit")
            continue
        reuse, why = plan_reuse(settings.cache_dir, kind, base, keys, full=full,
                                topics=sorted(set(labels)) if kind == "classifier" else None)
        if reuse is None:
            log(f"{name}: full fit ({why})")
            continue
        log(f"{name}: incremental: {reuse.changed} changed examples, reusing out-of-fold predictions")
        modes[kind] = f"incremental ({reuse.changed} changed)"
        if kind == "classifier":
            clf_reuse = reuse
        else:
            safety_reuse = reuse
    iterations: dict[str, int] = {}
    pool: ProcessPoolExecutor | ThreadPoolExecutor | None = None
    pending: Future | None = None
    side_by_side = safety is None and clf is None and parallel
    try:
        # One BLAS/OpenMP thread per fit while both run, until both are done.
        with threadpool_limits(limits=1 if side_by_side else None):
            if side_by_side and safety_reuse is not None:
                # After a small edit the safety fit is a few seconds, most of it n-gram counting
                # and lexicon patterns: a thread here costs less than a second interpreter that
                # imports scikit-learn, spaCy and the model code again (about 2.5 s of CPU), and
                # the topic fit's solvers release the GIL. Same function, same results.
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="safety-fit")
                pending = pool.submit(_fit_safety, safety_examples, sx, safety_base, safety_reuse, None)
            elif side_by_side:
                # Two independent full fits, one core each (spawn: the child starts clean, no OpenMP state).
                pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
                pending = pool.submit(_fit_safety, safety_examples, sx, safety_base, safety_reuse)
            if clf is None:
                # The out-of-fold splits side by side (same results); an incremental fit has none.
                clf, folds, its = _fit_topic(texts, labels, x, clf_base, clf_reuse, n_jobs=2 if parallel else None)
                _store_fit(settings.cache_dir, "classifier", clf_key, clf, folds)
                iterations |= its
                timings["fit_topic_done"] = time.perf_counter() - t
            if safety is None:
                if pending is not None:
                    with tqdm(total=1, desc="fitting safety model (beside the topic classifier)", unit="model") as bar:
                        safety, sfolds, its = pending.result()
                        bar.update(1)
                else:
                    safety, sfolds, its = _fit_safety(safety_examples, sx, safety_base, safety_reuse, threads=None)
                _store_fit(settings.cache_dir, "safety", safety_key, safety, sfolds)
                iterations |= its
                timings["fit_safety_done"] = time.perf_counter() - t
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if iterations:
        log("solver iterations: " + ", ".join(f"{k} {v}" for k, v in iterations.items()))
    timings["fit"] = time.perf_counter() - t
    timings["index"] = index_seconds
    log("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    log(f"safety model: thresholds {safety.thresholds.to_dict()}, held-out folds {safety.report}")

    out = settings.model_dir
    out.mkdir(parents=True, exist_ok=True)
    for old in (*OLD_MODEL_FILES, STAMP_FILE):  # no stamp vouches for a model half rewritten
        (out / old).unlink(missing_ok=True)
    files = [*clf.save(out), *safety.save(out)]
    index.save(out)
    manifest: dict[str, Any] = {
        "format": {"version": MODEL_FORMAT, "files": files},
        "embedder": embedder.name,
        "embedder_spec": settings.embedder,
        "data_hash": data_hash(data, articles, settings.embedder, corpus),
        "examples": len(texts),
        "topics": len(data.intents),
        "articles": len(articles),
        "synonyms": data.synonym_map(),
        "lookups": data.lookups,
        # Alarm thresholds of the safety classifier (tune here; see bot.safety_model.SafetyThresholds).
        "safety": {"thresholds": safety.thresholds.to_dict(), "held_out": safety.report},
        "index_build_seconds": round(index_seconds, 2),
        "embed_seconds": round(timings["embed_examples"], 2),
        "fit_seconds": round(timings["fit"], 2),
        "fit_mode": modes,
        "train_seconds": round(time.perf_counter() - started, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    write_stamp(settings, inputs_stamp(settings, state))
    log(f"model written to {out} in {manifest['train_seconds']} s")
    return manifest
