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
import re
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np
from spacy.lang.da import Danish
from spacy.language import Language
from spacy.tokenizer import Tokenizer
from spacy.tokens import Doc

from bot.nlu.arrays import load_arrays, save_arrays
from bot.regex_cache import compile_all

CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "cache"


def _hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


class CompactLemmas:
    """Inflected form -> lemma (lower case), looked up by a stable 64-bit hash of the form. The
    hashes and lemma numbers are mapped from the cache file (bot/nlu/arrays.py: a lookup reads a
    few pages of them) and the lemmas are one UTF-8 buffer, decoded one at a time."""

    def __init__(self, hashes: np.ndarray, index: np.ndarray, lemmas: list[str] | tuple[np.ndarray, np.ndarray]) -> None:
        self._hashes, self._index = hashes, index
        if isinstance(lemmas, tuple):
            self._blob, self._offsets = lemmas
        else:
            encoded = [lemma.encode("utf-8") for lemma in lemmas]
            self._blob = np.frombuffer(b"".join(encoded), np.uint8)
            self._offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded], dtype=np.int64)])

    def __len__(self) -> int:
        return len(self._hashes)

    @property
    def lemmas(self) -> list[str]:
        """Every lemma, sorted (for building vocabularies at training time)."""
        return [self._lemma(i) for i in range(len(self._offsets) - 1)]

    def _lemma(self, i: int) -> str:
        return self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])].tobytes().decode("utf-8")

    def get(self, word: str) -> str | None:
        h = np.uint64(_hash(word))
        i = int(np.searchsorted(self._hashes, h))
        if i < len(self._hashes) and self._hashes[i] == h:
            return self._lemma(int(self._index[i]))
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
        # Written aside and renamed (bot/nlu/arrays.py): two workers building at once never see
        # half a file, and a process mapping the old one keeps it.
        save_arrays(path, {"hashes": self._hashes, "index": self._index, "lemma_blob": self._blob,
                           "lemma_offsets": self._offsets})

    @classmethod
    def load(cls, path: Path) -> CompactLemmas:
        a = load_arrays(path)
        return cls(a["hashes"], a["index"], (a["lemma_blob"], a["lemma_offsets"]))


def _source_table() -> dict[str, str]:
    root = resources.files("spacy_lookups_data").joinpath("data")
    return json.loads(gzip.decompress(root.joinpath("da_lemma_lookup.json.gz").read_bytes()))


@lru_cache(maxsize=1)
def danish_lemmas() -> CompactLemmas:
    path = CACHE_DIR / f"da_lemmas.v2.{metadata.version('spacy-lookups-data')}.npz"
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


def _tokenizer(nlp: Language) -> Tokenizer:
    """spaCy's own tokenizer factory (`spacy.Tokenizer.v1`, what `spacy.blank` builds) with the
    language's prefix, suffix and infix expressions (37 kB) compiled once per machine instead of
    at every start (bot/regex_cache.py): the same tokenizer, 0.05 s less CPU per server start."""
    d = nlp.Defaults
    expressions = [
        "|".join("^" + piece for piece in d.prefixes or () if piece.strip()),
        "|".join(piece + "$" for piece in d.suffixes or () if piece.strip()),
        "|".join(piece for piece in d.infixes or () if piece.strip()),
    ]
    compiled = compile_all(expressions, CACHE_DIR, f"spacy_{nlp.lang}")
    # An expression the engine refuses raises re.error here, as in spaCy's own factory.
    prefix, suffix, infix = (p or re.compile(e) for p, e in zip(compiled, expressions, strict=True))
    return Tokenizer(
        nlp.vocab,
        rules=d.tokenizer_exceptions,
        prefix_search=prefix.search if d.prefixes else None,
        suffix_search=suffix.search if d.suffixes else None,
        infix_finditer=infix.finditer if d.infixes else None,
        token_match=d.token_match,
        url_match=d.url_match,
    )


@lru_cache(maxsize=1)
def danish_nlp() -> Language:
    nlp = Danish(create_tokenizer=_tokenizer)  # as spacy.blank("da"), without resolving its config
    nlp.add_pipe("kontakt_lemmatizer")
    return nlp
