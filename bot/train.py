"""`python -m bot train`: validate data, embed, fit the classifier, build the article index."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import joblib
import numpy as np
from tqdm import tqdm

from bot.config import Settings
from bot.errors import TrainingDataError
from bot.nlu import training_data
from bot.nlu.classifier import TopicClassifier
from bot.retrieval.articles import Article, load_articles
from bot.retrieval.embedder import Embedder, make_embedder
from bot.retrieval.index import ArticleIndex
from bot.safety_model import (
    SafetyClassifier,
    SafetyExample,
    examples_from_topics,
    load_corpus,
    merge_examples,
    sensitive_handoff_topics,
)
from bot.topics import EMERGENCY, TopicContract, load_contract

MODEL_FILE = "classifier.joblib"
SAFETY_MODEL_FILE = "safety.joblib"
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
    for a in articles:
        h.update(a.model_dump_json().encode())
    return h.hexdigest()[:16]


def embed_cached(embedder: Embedder, texts: list[str], cache_dir: Path, kind: str, desc: str) -> np.ndarray:
    """Embeddings are cached per text, so editing one file re-embeds only what changed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{embedder.name}.{kind}.npz"
    cache: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            cache = dict(zip(z["keys"].tolist(), z["vecs"], strict=True))
    keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    batch = 32
    with tqdm(total=len(texts), initial=len(texts) - len(todo), desc=desc, unit="text") as bar:
        for s in range(0, len(todo), batch):
            idx = todo[s : s + batch]
            vecs = embedder.queries([texts[i] for i in idx]) if kind == "query" else embedder.passages(
                [texts[i] for i in idx]
            )
            for i, v in zip(idx, vecs, strict=True):
                cache[keys[i]] = v
            bar.update(len(idx))
    if todo:
        np.savez(path, keys=np.array(list(cache)), vecs=np.stack(list(cache.values())))
    return np.stack([cache[k] for k in keys]).astype(np.float32)


def is_fresh(settings: Settings) -> bool:
    """True when the model on disk was built from the current data with the configured embedder."""
    try:
        manifest = json.loads((settings.model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        contract = load_contract(settings.topics_file)
        data = training_data.load_dir(settings.nlu_data_dir)
        articles = load_articles(settings.articles_dir, contract)
        corpus = load_safety_corpus(settings, contract)
    except (OSError, ValueError):
        return False
    return manifest.get("data_hash") == data_hash(data, articles, settings.embedder, corpus)


def load_safety_corpus(settings: Settings, contract: TopicContract) -> list[SafetyExample]:
    return load_corpus(settings.nlu_data_dir / SAFETY_CORPUS_DIR, sensitive_handoff_topics(contract))


def train(settings: Settings, log=print) -> dict:
    started = time.perf_counter()
    contract = load_contract(settings.topics_file)
    data = training_data.load_dir(settings.nlu_data_dir)
    check_training_data(data, contract)
    articles = load_articles(settings.articles_dir, contract)
    corpus = load_safety_corpus(settings, contract)
    embedder = make_embedder(settings.embedder)
    log(f"training on {len(data.examples)} examples in {len(data.intents)} topics, {len(articles)} articles")

    texts = [e.text for e in data.examples]
    labels = [e.intent for e in data.examples]
    x = embed_cached(embedder, texts, settings.cache_dir, "query", "embedding examples")
    t_index = time.perf_counter()
    passages = [p for a in articles for p in a.passages()]
    pvecs = embed_cached(embedder, passages, settings.cache_dir, "passage", "embedding articles")
    index = ArticleIndex.build(articles, embedder, vectors=pvecs)
    index_seconds = time.perf_counter() - t_index

    steps = tqdm(total=TopicClassifier().config.folds + 1, desc="fitting classifier", unit="step")
    clf = TopicClassifier().fit(texts, labels, x, progress=lambda msg: (steps.set_postfix_str(msg), steps.update(1)))
    steps.close()

    safety_examples = merge_examples(
        corpus, examples_from_topics(zip(labels, texts), EMERGENCY, sensitive_handoff_topics(contract))
    )
    stexts = [e.text for e in safety_examples]
    sx = embed_cached(embedder, stexts, settings.cache_dir, "query", "embedding safety corpus")
    steps = tqdm(total=SafetyClassifier().config.folds + 1, desc="fitting safety model", unit="step")
    safety = SafetyClassifier().fit(
        safety_examples, sx, progress=lambda msg: (steps.set_postfix_str(msg), steps.update(1))
    )
    steps.close()
    log(f"safety model: thresholds {safety.thresholds.to_dict()}, held-out folds {safety.report}")

    out = settings.model_dir
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(clf, out / MODEL_FILE)
    joblib.dump(safety, out / SAFETY_MODEL_FILE)
    index.save(out)
    manifest = {
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
        "train_seconds": round(time.perf_counter() - started, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    log(f"model written to {out} in {manifest['train_seconds']} s")
    return manifest
