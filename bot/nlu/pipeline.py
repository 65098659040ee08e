"""The one spaCy pipeline: blank Danish plus our compact lookup lemmatizer (no trained Danish
pipeline can be had offline). Built once per process; the entity rules and the vocabulary signal
share it.

spaCy's own lookup lemmatizer holds the 553k-entry Danish table as Python dicts (~180 MB RSS).
The same table as sorted 64-bit hashes + lemma indexes in numpy is ~10 MB, is built once per
machine from spacy-lookups-data and cached (var/cache), and loads in milliseconds."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import spacy
from spacy.language import Language
from spacy.tokens import Doc

CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "cache"


def _hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


class CompactLemmas:
    """Inflected form -> lemma (lower case), looked up by a stable 64-bit hash of the form."""

    def __init__(self, hashes: np.ndarray, index: np.ndarray, lemmas: list[str]) -> None:
        self._hashes, self._index, self.lemmas = hashes, index, lemmas

    def __len__(self) -> int:
        return len(self._hashes)

    def get(self, word: str) -> str | None:
        h = np.uint64(_hash(word))
        i = int(np.searchsorted(self._hashes, h))
        if i < len(self._hashes) and self._hashes[i] == h:
            return self.lemmas[int(self._index[i])]
        return None

    @classmethod
    def build(cls, table: dict[str, str]) -> CompactLemmas:
        lemmas = sorted({str(v) for v in table.values()})
        pos = {lemma: i for i, lemma in enumerate(lemmas)}
        hashes = np.fromiter((_hash(k) for k in table), dtype=np.uint64, count=len(table))
        index = np.fromiter((pos[str(v)] for v in table.values()), dtype=np.int32, count=len(table))
        order = np.argsort(hashes, kind="stable")
        return cls(hashes[order], index[order], lemmas)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temp file and rename: two workers building at once never see half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        os.close(fd)
        np.savez(tmp, hashes=self._hashes, index=self._index, lemmas=np.array("\n".join(self.lemmas)))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> CompactLemmas:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["hashes"], z["index"], str(z["lemmas"]).split("\n"))


def _source_table() -> dict[str, str]:
    root = resources.files("spacy_lookups_data").joinpath("data")
    return json.loads(gzip.decompress(root.joinpath("da_lemma_lookup.json.gz").read_bytes()))


@lru_cache(maxsize=1)
def danish_lemmas() -> CompactLemmas:
    path = CACHE_DIR / f"da_lemmas.{metadata.version('spacy-lookups-data')}.npz"
    try:
        return CompactLemmas.load(path)
    except (OSError, ValueError, KeyError):
        table = CompactLemmas.build(_source_table())
        try:
            table.save(path)
        except OSError:
            pass  # a read-only checkout still works, it just builds the table each start
        return table


@Language.component("kontakt_lemmatizer")
def _lemmatize(doc: Doc) -> Doc:
    """Lookup lemmatization like spaCy's "lookup" mode: the table's lemma, else the form itself."""
    table = danish_lemmas()
    for token in doc:
        token.lemma_ = table.get(token.text) or token.text
    return doc


@lru_cache(maxsize=1)
def danish_nlp() -> Language:
    nlp = spacy.blank("da")
    nlp.add_pipe("kontakt_lemmatizer")
    return nlp
