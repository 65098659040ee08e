"""Which training examples can be nearest a chat turn, found without reading every example at full
precision.

The topic model's neighbour vote and novelty read only the few examples nearest each text, but
finding them took the similarity of the text to all 9,000-odd examples: a matrix product that
reads 14 MB per parse, a third of the classifier's time. `Shortlist` keeps the examples a second
time at half precision in a FAISS index (7 MB, read in about half the time), takes the best
`size` there, and computes the full-precision similarities of only those. The half-precision
scores differ from the full ones by at most a known margin (the largest rounding of any example,
plus the rounding of two float32 dot products), so it can prove that no example outside the
shortlist can be among the `k` nearest or the nearest in-scope ones; when it cannot (a tie at the
border, a flat neighbourhood), the caller reads every example as before.

Only for the two texts of a chat turn with history (the message and its window): there the full
product is a matrix-matrix product, whose every element is the same sequence of operations
whatever the number of rows, so the shortlisted similarities are the very numbers the full
product gives. `Shortlist` checks this on the machine's BLAS when it is built and stays unused if
not. (A single text is a matrix-vector product, whose last rows round differently when the
matrix is cut: that case reads every example.)

One thing can differ: the vote adds the nearest examples' weights in the order numpy's selection
leaves them, which depends on every value of the row, so with the others left out two weights of
one topic may be added the other way round and a sum differ in its last bit. On the dev set no
parse changed in any byte, nor when the weights were summed in another order.
"""

from __future__ import annotations

import faiss
import numpy as np

SHORTLIST = 64  # examples taken from the half-precision scores, per text
TEXTS = 2  # a chat message and its window: the only shape served from the shortlist


def _rounding(dim: int) -> float:
    """Bound on the relative error of a float32 dot product of length `dim`, in any order
    (gamma_n = n u / (1 - n u), with u the unit roundoff), times the norms of its vectors."""
    nu = dim * float(np.finfo(np.float32).eps) / 2
    return nu / (1 - nu)


def _largest_norm(rows: np.ndarray) -> float:
    return float(np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64).max()))


class Shortlist:
    """The nearest-example shortlist over `train_emb` (rows: examples); `inscope` marks the
    examples the novelty reads; `k` is how many nearest the vote reads."""

    def __init__(self, train_emb: np.ndarray, inscope: np.ndarray, k: int, novelty_k: int = 3,
                 size: int = SHORTLIST) -> None:  # fmt: skip
        self._emb = np.ascontiguousarray(train_emb, np.float32)
        n, dim = self._emb.shape
        self._inscope = np.asarray(inscope, bool)
        self._k, self._novelty_k = min(k, n), min(novelty_k, int(self._inscope.sum()))
        self._size = size
        self._index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        self._index.add(self._emb)
        half = self._index.sa_decode(faiss.vector_to_array(self._index.codes).reshape(n, -1))
        norms = max(_largest_norm(self._emb), _largest_norm(half))
        # Per unit of the text's norm: the largest half-precision rounding of an example, and the
        # rounding of the full and the half-precision dot products.
        self._margin = _largest_norm(self._emb - half) + 2 * _rounding(dim) * norms + 1e-7
        self.usable = n > 2 * size and self._k > 0 and self._novelty_k > 0 and _cut_product_is_exact(self._emb)

    def similarities(self, vecs: np.ndarray) -> np.ndarray | None:
        """Similarities of the texts (rows of `vecs`, as `classifier.similarities` takes them) to
        every example, exact for every example that can be among the nearest and -inf for the
        rest; None when that cannot be proven or the shape is not served (read every example)."""
        if not self.usable or vecs.shape[0] != TEXTS:
            return None
        rows = []
        borders = []
        # One text per search: the search runs on one thread, but in an OpenMP parallel region, and
        # a thread with OpenMP's default (one per core) keeps a helper thread of its own for good:
        # one idle thread per request thread. One OpenMP thread for this thread's regions instead;
        # the search is the same.
        faiss.omp_set_num_threads(1)
        for v in vecs:
            scores, ids = self._index.search(v[None, :], self._size)
            rows.append(ids[0])
            borders.append(float(scores[0, -1]) + self._margin * float(np.linalg.norm(v)))
        cand = np.unique(np.concatenate(rows))
        if cand[0] < 0:
            return None
        exact = (self._emb[cand] @ vecs.T).T
        for near, border in zip(exact, borders, strict=True):
            if not _proven(near, self._inscope[cand], border, self._k, self._novelty_k):
                return None
        out = np.full((len(vecs), len(self._emb)), -np.inf, np.float32)
        out[:, cand] = exact
        return out


def _proven(near: np.ndarray, inscope: np.ndarray, border: float, k: int, novelty_k: int) -> bool:
    """True when every example left out scores below the `k` nearest shortlisted (and below the
    `novelty_k` nearest in-scope ones), and the k-th nearest is not tied with the next one (the
    full array could then have chosen the other)."""
    if len(near) <= k or int(inscope.sum()) < novelty_k:
        return False
    top = np.sort(near)[::-1]
    if top[k - 1] == top[k] or not border < top[k - 1]:
        return False
    return bool(border < np.sort(near[inscope])[-novelty_k])


def _cut_product_is_exact(emb: np.ndarray, trials: int = 4) -> bool:
    """Whether this BLAS gives a shortlist's rows the same similarities as the whole product, for
    two texts (see the module docstring): checked on fixed pseudo-random texts and cuts."""
    rng = np.random.default_rng(0)
    for _ in range(trials):
        vecs = rng.standard_normal((TEXTS, emb.shape[1])).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        rows = np.sort(rng.choice(len(emb), 2 * SHORTLIST - 3, replace=False))
        if not np.array_equal((emb[rows] @ vecs.T).T, (emb @ vecs.T).T[:, rows]):
            return False
    return True
