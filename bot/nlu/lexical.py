"""TF-IDF n-gram features and linear scores in plain numpy, for serving.

The lexical models are fitted with scikit-learn (`TfidfVectorizer`, `LogisticRegression`) and
exported to arrays and a vocabulary; serving computes exactly the same transform and scores here.
A serving process then needs neither scikit-learn nor scipy (about 75 MB of memory per process),
and one message costs a dict lookup per n-gram and a gather-sum over coefficient rows instead of
scikit-learn's input checks and a sparse matrix product.

The n-gram analysers follow scikit-learn's `char_wb` and `word` analysers line by line, lower-casing
included; `tests/bot/nlu/test_lexical.py` checks the equality on odd and ordinary texts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

_WHITE_SPACES = re.compile(r"\s\s+")
ANALYZERS = ("char_wb", "word")


def char_wb_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Character n-grams inside word boundaries, each word padded with one space either side."""
    text = _WHITE_SPACES.sub(" ", text.lower())
    out: list[str] = []
    add = out.append
    for w in text.split():
        w = " " + w + " "
        w_len = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            add(w[offset : offset + n])
            while offset + n < w_len:
                offset += 1
                add(w[offset : offset + n])
            if offset == 0:  # a word shorter than n counts once, as scikit-learn does
                break
    return out


def word_ngrams(text: str, lo: int, hi: int, pattern: re.Pattern[str]) -> list[str]:
    """Word n-grams of the tokens `pattern` finds in the lower-cased text."""
    tokens = pattern.findall(text.lower())
    if hi == 1:
        return tokens if lo == 1 else []
    out = list(tokens) if lo == 1 else []
    n_tokens = len(tokens)
    for n in range(max(lo, 2), min(hi + 1, n_tokens + 1)):
        for i in range(n_tokens - n + 1):
            out.append(" ".join(tokens[i : i + n]))
    return out


class Vocabulary(Mapping[str, int]):
    """n-gram -> column, without a Python object per n-gram: the terms' 64-bit hashes sorted
    (Python's `hash`, stable within a process) with their columns, and the terms themselves as
    UTF-8 in one buffer, read only to confirm a hit, so a hash collision cannot change a column.
    About 30 bytes per term instead of about 110 in a dict of strings and ints (the served topic
    and safety models hold 127,000 terms: 6.5 MB less resident per process, measured). `columns()`
    looks up all the n-grams of a text in one vectorised search."""

    def __init__(self, terms: Sequence[str], key: Callable[[str], int] = hash) -> None:
        n = len(terms)
        self._key = key
        encoded = [t.encode("utf-8", "surrogatepass") for t in terms]
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(np.fromiter(map(len, encoded), np.int64, n), out=offsets[1:])
        self._blob = np.frombuffer(b"".join(encoded), np.uint8)
        del encoded
        self._offsets = offsets
        self._chars = np.fromiter(map(len, terms), np.int32, n)
        hashes = np.fromiter(map(key, terms), np.int64, n)
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._columns = order.astype(np.int32)

    @classmethod
    def of(cls, mapping: Mapping[str, int]) -> Vocabulary:
        """From term -> column with the columns 0..n-1 (scikit-learn's `vocabulary_`)."""
        terms = [""] * len(mapping)
        for term, j in mapping.items():
            terms[j] = term
        return cls(terms)

    def _text(self, columns: np.ndarray) -> str:
        """The terms of `columns` decoded and joined."""
        starts, ends = self._offsets[columns], self._offsets[columns + 1]
        lengths = ends - starts
        if not lengths.sum():
            return ""
        index = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        return self._blob[index].tobytes().decode("utf-8", "surrogatepass")

    def term(self, column: int) -> str:
        return self._text(np.array([column], np.int64))

    def columns(self, terms: Sequence[str]) -> np.ndarray:
        """The column of each term, -1 for a term not in the vocabulary."""
        n = len(self._hashes)
        if not terms or not n:
            return np.full(len(terms), -1, np.int64)
        keys = np.fromiter(map(self._key, terms), np.int64, len(terms))
        starts = np.minimum(np.searchsorted(self._hashes, keys), n - 1)
        found = np.flatnonzero(self._hashes[starts] == keys)
        cols = self._columns[starts[found]]
        # Confirm every hit at once: the found terms joined equal the vocabulary's terms joined,
        # term by term as long (in characters).
        hits = [terms[k] for k in found.tolist()]
        if self._text(cols) == "".join(hits) and self._chars[cols].tolist() == list(map(len, hits)):
            out = np.full(len(terms), -1, np.int64)
            out[found] = cols
            return out
        return np.array([self._column(t) for t in terms], np.int64)  # a hash shared by two strings

    def _column(self, term: str) -> int:
        key = self._key(term)
        i = int(np.searchsorted(self._hashes, key))
        while i < len(self._hashes) and self._hashes[i] == key:
            j = int(self._columns[i])
            if self.term(j) == term:
                return j
            i += 1
        return -1

    def get(self, term: str, default: Any = None) -> Any:
        j = self._column(term)
        return default if j < 0 else j

    def __getitem__(self, term: str) -> int:
        j = self.get(term)
        if j is None:
            raise KeyError(term)
        return int(j)

    def __len__(self) -> int:
        return len(self._columns)

    def __iter__(self) -> Iterator[str]:
        """The terms in column order."""
        text = self._blob.tobytes().decode("utf-8", "surrogatepass")
        start = 0
        for end in np.cumsum(self._chars).tolist():
            yield text[start:end]
            start = end


@dataclass(frozen=True, eq=False)
class TfidfFeatures:
    """One fitted tf-idf vectoriser: n-gram -> column, idf per column. `row()` gives the
    l2-normalised tf-idf values of one text as (columns, values)."""

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: Vocabulary
    idf: np.ndarray  # float32, one per column
    sublinear_tf: bool
    token_pattern: str = ""

    def __post_init__(self) -> None:
        if self.analyzer not in ANALYZERS:
            raise ValueError(f"analyzer {self.analyzer!r} is not one of {ANALYZERS}")
        object.__setattr__(self, "_pattern", re.compile(self.token_pattern) if self.analyzer == "word" else None)

    @property
    def size(self) -> int:
        return len(self.idf)

    def terms(self, text: str) -> list[str]:
        lo, hi = self.ngram_range
        if self.analyzer == "char_wb":
            return char_wb_ngrams(text, lo, hi)
        pattern: re.Pattern[str] = self._pattern  # type: ignore[attr-defined]
        return word_ngrams(text, lo, hi, pattern)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        # Distinct terms have distinct columns: the counts of the known terms, in the order the
        # terms first occur, are the counts per column.
        terms, counts = _term_counts(self.analyzer, self.ngram_range, self.token_pattern, text)
        columns = self.vocabulary.columns(terms)
        known = columns >= 0
        if not known.any():
            return np.zeros(0, np.intp), np.zeros(0, np.float32)
        cols = columns[known].astype(np.intp)
        tf = counts[known]
        if self.sublinear_tf:
            tf = np.log(tf) + np.float32(1.0)
        vals = tf * self.idf[cols]
        norm = np.sqrt(np.dot(vals.astype(np.float64), vals.astype(np.float64)))
        if norm > 0:
            vals = (vals / norm).astype(np.float32)
        return cols, vals

    # -- export ---------------------------------------------------------------------------------
    @classmethod
    def from_sklearn(cls, vec: Any) -> TfidfFeatures:
        """The fitted `TfidfVectorizer` as plain data; refuses options this module does not compute."""
        expected = {"lowercase": True, "strip_accents": None, "preprocessor": None, "tokenizer": None,
                    "stop_words": None, "norm": "l2", "use_idf": True, "binary": False, "input": "content"}
        odd = {k: getattr(vec, k) for k, v in expected.items() if getattr(vec, k) != v}
        if odd or vec.analyzer not in ANALYZERS:
            raise ValueError(f"cannot export a vectoriser with {odd or {'analyzer': vec.analyzer}}")
        vocab = Vocabulary.of({str(k): int(v) for k, v in vec.vocabulary_.items()})
        return cls(vec.analyzer, tuple(vec.ngram_range), vocab, np.asarray(vec.idf_, np.float32),
                   bool(vec.sublinear_tf), vec.token_pattern if vec.analyzer == "word" else "")

    def to_json(self) -> dict[str, Any]:
        """The vocabulary as a list in column order (the idf goes into the .npz next to it)."""
        terms = list(self.vocabulary)
        return {"analyzer": self.analyzer, "ngram_range": list(self.ngram_range), "sublinear_tf": self.sublinear_tf,
                "token_pattern": self.token_pattern, "terms": terms}

    @classmethod
    def from_json(cls, raw: dict[str, Any], idf: np.ndarray) -> TfidfFeatures:
        terms = raw["terms"]
        if len(terms) != len(idf):
            raise ValueError(f"vocabulary of {len(terms)} terms but {len(idf)} idf values")
        lo, hi = raw["ngram_range"]
        return cls(raw["analyzer"], (int(lo), int(hi)), Vocabulary(terms),
                   np.asarray(idf, np.float32), bool(raw["sublinear_tf"]), raw.get("token_pattern", ""))


@lru_cache(maxsize=64)
def _term_counts(analyzer: str, ngram_range: tuple[int, int], token_pattern: str,
                 text: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The distinct n-grams of `text` in the order they first occur, and how often each occurs.
    The topic and the safety model read the same texts with the same analysers (only their
    vocabularies differ): one parse counts each text's n-grams once, not once per model."""
    lo, hi = ngram_range
    if analyzer == "char_wb":
        found = char_wb_ngrams(text, lo, hi)
    else:
        found = word_ngrams(text, lo, hi, re.compile(token_pattern))
    counted = Counter(found)
    counts = np.fromiter(counted.values(), np.float32, len(counted))
    counts.setflags(write=False)  # shared by every caller
    return tuple(counted), counts


def sparse_scores(
    blocks: Sequence[tuple[TfidfFeatures, Sequence[str]]], weights: np.ndarray, offset: int = 0
) -> np.ndarray:
    """Linear scores of the concatenated tf-idf blocks, one row per text: for each text, the
    coefficient rows of its columns (`weights` is columns x classes, the blocks' columns in order
    from `offset`) weighted by its tf-idf values and summed."""
    n = len(blocks[0][1])
    out = np.zeros((n, weights.shape[1]), np.float64)
    start = offset
    for features, texts in blocks:
        for i, text in enumerate(texts):
            cols, vals = features.row(text)
            if cols.size:
                out[i] += vals.astype(np.float64) @ weights[cols + start].astype(np.float64)
        start += features.size
    return out


def softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(scores: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow for large negative scores."""
    return np.exp(-np.logaddexp(0.0, -scores))


def export_linear(lr: Any) -> tuple[np.ndarray, np.ndarray]:
    """A fitted `LogisticRegression` as (coefficients columns x classes, intercepts), in the dtype
    it was fitted or cast to. A binary model has one column (use `sigmoid`), others one per class
    (`softmax`, the multinomial model)."""
    if getattr(lr, "multi_class", "deprecated") not in ("deprecated", "auto", "multinomial"):
        raise ValueError(f"cannot export a one-vs-rest model ({lr.multi_class!r})")
    return np.ascontiguousarray(np.asarray(lr.coef_).T), np.asarray(lr.intercept_, np.float64)


class CountedTexts:
    """The n-gram counts of every training text, read once (training only). `tfidf(fit_rows,
    other_rows)` gives the tf-idf rows a copy of `vectoriser` fitted on `fit_rows` would give for
    those rows and for `other_rows`: the vocabulary (n-grams in at least `min_df` of the fitting
    rows, in the same sorted order) and the idf come from the fitting rows' counts alone, so
    out-of-fold fits need not analyse the texts again for every fold."""

    def __init__(self, vectoriser: Any, texts: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        params = vectoriser.get_params()
        counting = {k: params[k] for k in CountVectorizer().get_params()}
        if counting["max_df"] != 1.0 or counting["max_features"] is not None or counting["vocabulary"] is not None:
            raise ValueError("only min_df is recomputed per fold: max_df, max_features and vocabulary must be unset")
        if not isinstance(counting["min_df"], int):
            raise ValueError(f"min_df must be a count of rows, got {counting['min_df']!r}")
        self.min_df = counting["min_df"]
        self._tfidf = {k: params[k] for k in ("norm", "use_idf", "smooth_idf", "sublinear_tf")}
        self.counts = CountVectorizer(**{**counting, "min_df": 1}).fit_transform(texts).tocsr()

    def tfidf(self, fit_rows: np.ndarray, other_rows: np.ndarray) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import TfidfTransformer

        fit_counts = self.counts[fit_rows]
        df = np.bincount(fit_counts.indices, minlength=fit_counts.shape[1])
        keep = np.flatnonzero(df >= max(self.min_df, 1))
        fit_counts, other = fit_counts[:, keep], self.counts[other_rows][:, keep]
        transformer = TfidfTransformer(**self._tfidf).fit(fit_counts)
        return transformer.transform(fit_counts, copy=False), transformer.transform(other, copy=False)
