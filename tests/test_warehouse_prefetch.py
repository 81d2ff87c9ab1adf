"""prefetched(): order kept, producer errors re-raised in the consumer, an early stop ends the producer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from etl_assistant.prefetch import prefetched


def test_items_arrive_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for i in range(100):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetched(produce(), depth=3)) == list(range(100))
    assert threads == {"etla-prefetch"}


def test_producer_error_reaches_the_consumer_after_earlier_items() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("row 3 is not a date")

    seen: list[int] = []
    with pytest.raises(ValueError, match="row 3 is not a date"):
        for item in prefetched(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_consumer_stopping_early_stops_the_producer() -> None:
    produced: list[int] = []
    finished = threading.Event()

    def produce() -> Iterator[int]:
        try:
            for i in range(10_000):
                produced.append(i)
                yield i
        finally:
            finished.set()

    items = prefetched(produce(), depth=2)
    assert next(items) == 0
    items.close()  # the consumer gives up (e.g. the engine refused a batch)
    assert finished.wait(timeout=5)
    time.sleep(0.2)
    assert len(produced) <= 5  # at most `depth` items ahead, never the whole source
