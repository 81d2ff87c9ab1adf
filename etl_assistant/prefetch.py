"""Run an iterator a few items ahead in a background thread, so reading a file overlaps loading it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Full, Queue
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield `items`, produced by a thread at most `depth` ahead; its exceptions re-raise here.

    Stopping early (the consumer failed or returned) stops the producer at its next item.
    """
    queue: Queue[tuple[BaseException | None, object]] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[BaseException | None, object]) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((None, item)):
                    return
            put((None, _END))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((exc, None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator source releases its file now, not at garbage collection

    thread = threading.Thread(target=produce, name="etla-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            error, item = queue.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=10)
