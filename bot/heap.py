"""The C heap of a serving process (glibc malloc), in one place.

A server answers on many threads (the request thread pool, the database and outbox workers).
glibc gives each thread that contends for the heap an arena of its own, up to eight per core,
and keeps what an arena once held: under the load benchmark the resident size grew from 320 MB
to 464 MB, most of it freed memory parked in arenas. Two arenas, a fixed threshold above which
blocks get their own mapping (returned on free), and a low trim threshold keep a server near its
working set: 402 MB after the same load with two arenas alone, 389 MB with all three (measured
on 2 cores, SQLite, one worker). Elsewhere (musl, macOS) these are no-ops.

While serving (`serving_memory`, a start-up part), two more bounds: freed heap is handed back every
`TRIM_SECONDS` (what a burst freed stays in the arenas' free lists otherwise: 13–18 MB after the
load benchmark, measured), and at most `REQUEST_THREADS` requests run in threads at once instead of
anyio's 40: on a few cores more threads serve no more turns, they only hold more turns' memory at
once (RSS after the load benchmark 368 MB with 40, 348 MB with 16, 341 MB with 8).

Python's own heap at start-up: `python -m bot serve` builds some 200,000 long-lived objects
(modules, classes, tables, models) and almost no garbage, and the cyclic collector's passes over
them while they are built were about a tenth of the start-up CPU (0.25 s of 2.5, measured); the
model check before the app is built imports spaCy and the storage tables, and its passes there
were another 0.5 s of wall time on a busy 2-core machine. The serve command pauses the collector
(`pause_gc_for_start_up`) before that check (back on for a training run it starts: `collecting`),
and the last start-up part (`serving_gc`) freezes what start-up built and turns the collector
back on: those objects live as long as the process, so later full collections no longer walk them. What start-up left as
garbage (about 4,000 objects, measured) stays with the frozen ones."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
from collections.abc import AsyncIterator, Iterator
from functools import lru_cache
from typing import Any

# mallopt parameters (glibc <malloc.h>).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 2
TRIM_SECONDS = 10.0
REQUEST_THREADS = 16
MMAP_THRESHOLD = 128 * 1024  # glibc's starting value, kept fixed instead of rising to 32 MB
TRIM_THRESHOLD = 1024 * 1024
# What glibc reads from the environment at start-up: a value set there is the operator's choice.
_ENV = {M_ARENA_MAX: "MALLOC_ARENA_MAX", M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_",
        M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_"}


@lru_cache(maxsize=1)
def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None)  # the process's own C library
    except (OSError, TypeError):
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def serve_heap() -> bool:
    """Sets the serving heap policy for this process; call it before the server starts its
    threads. False where the C library has no `mallopt`."""
    libc = _libc()
    if libc is None:
        return False
    for param, value in ((M_ARENA_MAX, ARENAS), (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        if _ENV[param] not in os.environ:
            libc.mallopt(param, value)
    return True


def release_freed_heap() -> None:
    """Hands heap pages freed so far back to the system (after loading a model, say: glibc
    keeps them otherwise once its mmap threshold has risen)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextlib.asynccontextmanager
async def serving_memory(app: Any) -> AsyncIterator[None]:
    """Start-up part: bounds the request threads and hands freed heap back while the app lives."""
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
    stop = asyncio.Event()

    async def trim() -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TRIM_SECONDS)
            if not stop.is_set():
                await asyncio.to_thread(release_freed_heap)  # it walks the arenas: not on the loop

    task = asyncio.create_task(trim())
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)


def pause_gc_for_start_up() -> None:
    """Pauses Python's cyclic collector until `serving_gc` runs (the serve command, one worker)."""
    gc.disable()


@contextlib.contextmanager
def collecting() -> Iterator[None]:
    """The cyclic collector on inside the block (a training run during a paused start-up), and as
    it was after it."""
    paused = not gc.isenabled()
    gc.enable()
    try:
        yield
    finally:
        if paused:
            gc.disable()


@contextlib.asynccontextmanager
async def serving_gc(app: Any) -> AsyncIterator[None]:
    """Start-up part, the last one: freezes what start-up built and turns the cyclic collector
    back on, if the serve command paused it. An app built elsewhere (tests, tools, a worker of
    several) finds it on and leaves it alone."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
    yield
