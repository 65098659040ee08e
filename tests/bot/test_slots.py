"""bot.slots.FairSlots: no more threads inside than slots, and waiting threads let in in the order
they came."""

from __future__ import annotations

import threading
import time

import pytest

from bot.slots import FairSlots


def test_slots_hold_no_more_threads_than_slots() -> None:
    slots, lock = FairSlots(2), threading.Lock()
    inside, most = 0, 0

    def work() -> None:
        nonlocal inside, most
        for _ in range(5):
            with slots:
                with lock:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.002)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 2 and inside == 0


def test_slots_let_waiting_threads_in_in_the_order_they_came() -> None:
    slots = FairSlots(1)
    order: list[int] = []

    def work(i: int) -> None:
        with slots:
            order.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    with slots:  # taken: every thread waits
        for i, t in enumerate(threads):
            t.start()
            while len(slots._waiting) <= i:  # queued before the next one starts
                time.sleep(0.001)
    for t in threads:
        t.join()
    assert order == list(range(6))


def test_slots_need_one_slot_at_least() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FairSlots(0)
