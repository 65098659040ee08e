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
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from bot.config import Settings
from bot.errors import TrainingDataError
from bot.nlu import training_data
from bot.nlu.classifier import TopicClassifier, TopicModel
from bot.retrieval.articles import Article, load_articles
from bot.retrieval.embedder import Embedder, make_embedder
from bot.retrieval.index import ArticleIndex
from bot.safety_model import (
    SafetyClassifier,
    SafetyExample,
    SafetyModel,
    examples_from_topics,
    load_corpus,
    merge_examples,
    sensitive_handoff_topics,
)
from bot.topics import EMERGENCY, TopicContract, load_contract

# The served models are plain numpy arrays and JSON (scikit-learn is for training only); the
# manifest records this format, and a model in another format is retrained, never unpickled.
MODEL_FORMAT = "kontakt.numpy.v1"
OLD_MODEL_FILES = ("classifier.joblib", "safety.joblib")  # format of models built before numpy.v1
SAFETY_CORPUS_DIR = "safety"  # under nlu_data/
MANIFEST_FILE = "model.manifest.json"
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


def _store_fit(cache_dir: Path, kind: str, key: str, model: _Saved) -> None:
    d = cache_dir / FIT_CACHE
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob(f"{kind}.*"):  # keep one entry per kind: the cache never grows
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=d, prefix=f".{kind}.tmp"))
    model.save(tmp)
    os.replace(tmp, d / f"{kind}.{key}")


def _fit_safety(examples: list[SafetyExample], embeddings: np.ndarray) -> SafetyModel:
    """Runs in a worker process, next to the topic classifier's fit (one core each)."""
    with threadpool_limits(limits=1):
        return SafetyClassifier().fit(examples, embeddings).export()


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
    """True when the model on disk was built from the current data with the configured embedder."""
    try:
        manifest = json.loads((settings.model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        contract = load_contract(settings.topics_file)
        articles = load_articles(settings.articles_dir, contract)
        data = load_training_data(settings, contract, articles)
        corpus = load_safety_corpus(settings, contract)
    except (OSError, ValueError):
        return False
    return (manifest.get("format", {}).get("version") == MODEL_FORMAT
            and manifest.get("data_hash") == data_hash(data, articles, settings.embedder, corpus))


def load_safety_corpus(settings: Settings, contract: TopicContract) -> list[SafetyExample]:
    return load_corpus(settings.nlu_data_dir / SAFETY_CORPUS_DIR, sensitive_handoff_topics(contract))


def train(settings: Settings, log=print, parallel: bool = True) -> dict:
    """Fit everything into settings.model_dir. Embeddings and fitted models are cached by content
    in settings.cache_dir, so a rerun after editing one file redoes only what that file shapes
    (an article: the index; a safety file: the safety model; an nlu_data file: both models).
    `parallel`: fit the safety model in a second process while the topic classifier fits here."""
    started = time.perf_counter()
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
    safety_examples = merge_examples(
        corpus, examples_from_topics(zip(labels, texts), EMERGENCY, sensitive_handoff_topics(contract))
    )
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
    clf_key = fit_key("classifier", embedder.name, texts, labels, TopicClassifier().config,
                      ("bot.nlu.classifier", "bot.nlu.lexical", "bot.nlu.text"))
    safety_key = fit_key("safety", embedder.name, stexts,
                         [f"{e.label}|{e.source == 'topics'}|{e.weight}" for e in safety_examples],
                         SafetyClassifier().config, ("bot.safety_model", "bot.nlu.lexical", "bot.nlu.text"))
    clf: TopicModel | None = _cached_fit(settings.cache_dir, "classifier", clf_key, TopicModel.load)
    safety: SafetyModel | None = _cached_fit(settings.cache_dir, "safety", safety_key, SafetyModel.load)
    pool: ProcessPoolExecutor | None = None
    pending: Future | None = None
    try:
        if safety is None and clf is None and parallel:
            # Two independent fits, one core each (spawn: the child starts clean, no OpenMP state).
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            pending = pool.submit(_fit_safety, safety_examples, sx)
        if clf is None:
            steps = tqdm(total=TopicClassifier().config.folds + 1, desc="fitting classifier", unit="step")
            with threadpool_limits(limits=1 if pending is not None else None):
                clf = TopicClassifier().fit(
                    texts, labels, x, progress=lambda msg: (steps.set_postfix_str(msg), steps.update(1)),
                    n_jobs=2 if parallel else None,  # the out-of-fold splits side by side (same results)
                ).export()
            steps.close()
            _store_fit(settings.cache_dir, "classifier", clf_key, clf)
            timings["fit_topic_done"] = time.perf_counter() - t
        else:
            log("topic classifier: unchanged data, reusing the cached fit")
        if pending is not None:
            with tqdm(total=1, desc="fitting safety model (second process)", unit="model") as bar:
                safety = pending.result()
                bar.update(1)
            _store_fit(settings.cache_dir, "safety", safety_key, safety)
            timings["fit_safety_done"] = time.perf_counter() - t
        elif safety is None:
            steps = tqdm(total=SafetyClassifier().config.folds + 1, desc="fitting safety model", unit="step")
            safety = SafetyClassifier().fit(
                safety_examples, sx, progress=lambda msg: (steps.set_postfix_str(msg), steps.update(1))
            ).export()
            steps.close()
            _store_fit(settings.cache_dir, "safety", safety_key, safety)
            timings["fit_safety_done"] = time.perf_counter() - t
        else:
            log("safety model: unchanged data, reusing the cached fit")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    timings["fit"] = time.perf_counter() - t
    timings["index"] = index_seconds
    log("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    log(f"safety model: thresholds {safety.thresholds.to_dict()}, held-out folds {safety.report}")

    out = settings.model_dir
    out.mkdir(parents=True, exist_ok=True)
    for old in OLD_MODEL_FILES:
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
        "train_seconds": round(time.perf_counter() - started, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    log(f"model written to {out} in {manifest['train_seconds']} s")
    return manifest
