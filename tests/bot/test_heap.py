"""bot.heap: a serving process keeps to two malloc arenas however many threads allocate, unless
the operator chose otherwise in the environment. Counted by glibc itself (`malloc_stats`), in a
fresh interpreter so the arenas of this test process do not count."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from bot.config import ROOT

pytestmark = pytest.mark.integration

PROGRAM = """
import ctypes, sys, threading
from bot.heap import serve_heap
if sys.argv[1] == "serve":
    serve_heap()
start = threading.Barrier(8)
def work():
    start.wait()  # all at once, so the threads contend for the heap
    for _ in range(200):
        blocks = [bytearray(4096) for _ in range(64)]  # larger than Python's small-object allocator
        del blocks
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROGRAM, mode], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**clean, **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return sum(1 for line in out.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_stats")
def test_heap_serving_process_keeps_two_arenas() -> None:
    assert _arenas("plain") > 2  # without the policy, contending threads get arenas of their own
    assert _arenas("serve") <= 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_stats")
def test_heap_leaves_the_operators_arena_setting() -> None:
    assert _arenas("serve", MALLOC_ARENA_MAX="4") > 2


def test_serving_memory_bounds_request_threads_and_stops_with_the_app() -> None:
    import anyio.to_thread

    from bot.heap import REQUEST_THREADS, serving_memory

    async def serve() -> tuple[float, float]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        before = limiter.total_tokens
        async with serving_memory(None):
            inside = limiter.total_tokens
            await anyio.to_thread.run_sync(sum, [1, 2])  # requests still run in threads
        return before, inside

    before, inside = asyncio.run(serve())  # returns only if the trimming task stopped with the app
    assert before == 40 and inside == REQUEST_THREADS < before


GC_PROGRAM = """
import asyncio, gc
from bot.heap import pause_gc_for_start_up, serving_gc

async def main():
    pause_gc_for_start_up()
    built = [[i] for i in range(1000)]  # what start-up builds
    paused = not gc.isenabled()
    async with serving_gc(None):
        print(paused, gc.isenabled(), gc.get_freeze_count() >= 1000)

asyncio.run(main())
"""


def test_serving_gc_turns_the_collector_back_on_after_start_up() -> None:
    # In a fresh interpreter: freezing is for a serving process, not for this test process.
    out = subprocess.run([sys.executable, "-c", GC_PROGRAM], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True", "True"]


def test_serving_gc_leaves_an_app_built_elsewhere_alone() -> None:
    import gc

    from bot.heap import serving_gc

    async def start() -> tuple[bool, int]:
        async with serving_gc(None):
            return gc.isenabled(), gc.get_freeze_count()

    frozen = gc.get_freeze_count()
    assert asyncio.run(start()) == (True, frozen)  # on, and nothing frozen


def test_collecting_runs_the_collector_inside_a_paused_start_up_and_pauses_it_again() -> None:
    import gc

    from bot.heap import collecting

    gc.disable()
    try:
        with collecting():
            inside = gc.isenabled()
        after = gc.isenabled()
    finally:
        gc.enable()
    with collecting():
        pass
    assert (inside, after, gc.isenabled()) == (True, False, True)
