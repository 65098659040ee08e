"""Compiled regular expressions kept on disk, for pattern sets too large to compile at every start.

Python compiles a pattern in Python code (parsing, then code generation) and keeps nothing from
one process to the next: the safety lexicon's 266 patterns and the joined patterns tried before
them (about 100 kB of expression) cost every server start 0.25 s of CPU. What compiling yields
is a list of integers that the regex engine takes as it is (`_sre.compile`, the last step of
`re.compile`), so it is kept in the cache directory, keyed by the patterns and the exact
interpreter (the list's format belongs to the engine's version): a start that finds it builds
the patterns in milliseconds. A pattern built so is equal to `re.compile`'s (same text, flags
and code), so it matches exactly the same. Another interpreter, or a missing or unreadable
file: the patterns are compiled as usual and the file written for the next start."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import marshal
import os
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1
SUFFIX = ".regex"

try:  # the stages of `re.compile` (Lib/re/_compiler.py); elsewhere every pattern compiles as usual
    import _sre
    from re import _compiler, _parser

    _ENGINE = f"{sys.implementation.cache_tag} {sys.version} {_sre.MAGIC} {_sre.CODESIZE}"
except (ImportError, AttributeError):  # pragma: no cover - another implementation of Python
    _ENGINE = ""


def _key(patterns: Sequence[str], flags: int) -> str:
    h = hashlib.sha256(f"{FORMAT}\0{_ENGINE}\0{flags}\0{len(patterns)}\0".encode())
    for p in patterns:
        h.update(p.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def _parts(pattern: str, flags: int) -> tuple[Any, ...] | None:
    """What `re.compile(pattern, flags)` hands the engine; None for a pattern it refuses."""
    try:
        p = _parser.parse(pattern, flags)
        code = [int(op) for op in _compiler._code(p, flags)]  # opcodes are int subclasses
    except re.error:
        return None
    groupindex = dict(p.state.groupdict)
    indexgroup: list[str | None] = [None] * p.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return pattern, int(flags | p.state.flags), code, p.state.groups - 1, groupindex, tuple(indexgroup)


def _build(parts: tuple[Any, ...] | None) -> re.Pattern[str] | None:
    return None if parts is None else _sre.compile(*parts)


def _plain(patterns: Sequence[str], flags: int) -> list[re.Pattern[str] | None]:
    out: list[re.Pattern[str] | None] = []
    for p in patterns:
        try:
            out.append(re.compile(p, flags))
        except re.error:
            out.append(None)
    return out


def _read(path: Path, key: str, n: int) -> list[Any] | None:
    try:
        stored_key, entries = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if stored_key != key or not isinstance(entries, list) or len(entries) != n:
        return None
    return entries


def _write(cache_dir: Path, name: str, path: Path, key: str, entries: list[Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(marshal.dumps((key, entries)))
        os.replace(tmp, path)  # atomic: a concurrent start reads the old file or the new one
        for old in cache_dir.glob(f"{name}.*{SUFFIX}"):  # earlier versions of the same set
            if old != path:
                old.unlink(missing_ok=True)
    except (OSError, ValueError):  # a read-only checkout still works: it compiles at every start
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def compile_all(
    patterns: Sequence[str], cache_dir: Path | None, name: str, flags: int = 0
) -> list[re.Pattern[str] | None]:
    """`re.compile(p, flags)` for each pattern, None where that raises `re.error`; the compiled
    code is read from (or written to) `cache_dir`/`name`.<key>.regex."""
    if not _ENGINE or cache_dir is None:
        return _plain(patterns, flags)
    key = _key(patterns, flags)
    path = cache_dir / f"{name}.{key[:16]}{SUFFIX}"
    entries = _read(path, key, len(patterns))
    if entries is not None:
        try:
            return [_build(e) for e in entries]
        except (TypeError, ValueError, RuntimeError) as exc:  # the engine refuses the stored code
            log.warning("compiled patterns in %s are unusable (%s): compiling them again", path, exc)
    try:
        entries = [_parts(p, flags) for p in patterns]
        compiled = [_build(e) for e in entries]
    except (AttributeError, TypeError, ValueError, RuntimeError):  # pragma: no cover - re's internals moved
        return _plain(patterns, flags)
    _write(cache_dir, name, path, key, entries)
    return compiled
