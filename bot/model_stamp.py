"""A cheap answer to "was the model on disk built from the data as it is now?" for start-up.

The exact answer (`bot.train.is_fresh`) reads and hashes every training file, article and
safety example: a quarter of a second of CPU, and importing the training code, in every
start. Once that answer (or a training run) has said yes, the stamp below records what the
inputs looked like then: each input file's path, size and modification time, the embedder, the
published article versions that add editors' questions (bot/knowledge/training.py) and the
model's own data hash. While all of those are unchanged the model is still fresh; any change,
even one that leaves the content as it was (a checkout, a touch), sends the next start to the
exact check, which writes a new stamp when the model is fresh after all. A stamp never says
fresh when the exact check would not, short of a file rewritten with the same size within one
tick of the file system's clock."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from bot.config import Settings

STAMP_FILE = "inputs.stamp.json"  # in the model directory, beside the manifest
MANIFEST_FILE = "model.manifest.json"


def _inputs(settings: Settings) -> Iterator[Path]:
    """Every file whose content can shape the training data (bot.train.load_training_data)."""
    yield settings.topics_file
    yield settings.tenants_file
    for root in (settings.nlu_data_dir, settings.articles_dir, settings.articles_dir.parent / "local"):
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*") if p.is_file())


def _published(settings: Settings) -> list[tuple[str, str, int]]:
    """Which published article versions the training data includes (their texts never change:
    a new text is a new version)."""
    from bot.knowledge.training import published_versions

    return sorted((v.scope, v.article_id, v.version) for v in published_versions(settings.database_url))


def input_state(settings: Settings) -> str | None:
    """The inputs as they are now: every input file's path, size and modification time, the
    embedder asked for and the published versions; None when a file cannot be read."""
    h = hashlib.sha256(settings.embedder.encode())
    try:
        for path in _inputs(settings):
            st = os.stat(path)
            h.update(f"{path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    except OSError:
        return None
    h.update(json.dumps(_published(settings)).encode())
    return h.hexdigest()


def inputs_stamp(settings: Settings, state: str | None = None) -> str | None:
    """The stamp: the state of the inputs (`state`, taken before they were read, or now) tied to
    the model's manifest; None without a readable manifest or state."""
    state = state or input_state(settings)
    try:
        manifest = json.loads((settings.model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if state is None or not isinstance(manifest, dict):
        return None
    mine = [manifest.get("format"), manifest.get("data_hash"), manifest.get("embedder_spec"), state]
    return hashlib.sha256(json.dumps(mine).encode()).hexdigest()


def stamp_matches(settings: Settings) -> bool:
    """True when the stamp written at the last training or exact check still holds."""
    try:
        stored = json.loads((settings.model_dir / STAMP_FILE).read_text(encoding="utf-8"))["stamp"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return stored is not None and stored == inputs_stamp(settings)


def write_stamp(settings: Settings, stamp: str | None) -> None:
    """Record `stamp` (taken before the inputs were read), written aside and renamed so that
    a worker starting meanwhile reads the old stamp or the new one, never half of one."""
    if stamp is None:
        return
    path = settings.model_dir / STAMP_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"stamp": stamp}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only model directory: every start checks exactly
