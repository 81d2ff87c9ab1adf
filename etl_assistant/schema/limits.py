"""Read limits: how much a source may expand to, and how many rows, columns and bytes per line it may have.

A 3 MB gzip file can expand to 3 GB; a file can hold one 2 GB line or 50,000 columns. Every read of a source
goes through these checks while it streams (inference and loads alike), so such a file is refused with one
sentence long before it fills memory or the disk, and nothing is registered or written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from etl_assistant.errors import InputError

if TYPE_CHECKING:
    from etl_assistant.config import Settings

MIB = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """The limits of one read; `None` means unlimited (the defaults of code that reads without settings)."""

    max_bytes: int | None = None  # decompressed bytes
    max_rows: int | None = None
    max_columns: int | None = None
    max_line_bytes: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(
            max_bytes=int(settings.max_decompressed_mb * MIB),
            max_rows=settings.max_rows,
            max_columns=settings.max_columns,
            max_line_bytes=settings.max_line_kb * 1024,
        )

    def check_size(self, name: str, size: int) -> None:
        if self.max_bytes is not None and size > self.max_bytes:
            raise too_large(name, self.max_bytes)

    def check_columns(self, name: str, columns: int) -> None:
        if self.max_columns is not None and columns > self.max_columns:
            raise InputError(
                f"{name} has {columns:,} columns, more than the limit of {self.max_columns:,}; split it into "
                "narrower files or raise ETLA_MAX_COLUMNS."
            )

    def check_rows(self, name: str, rows: int) -> None:
        if self.max_rows is not None and rows > self.max_rows:
            raise InputError(
                f"{name} has more than {self.max_rows:,} rows, the limit for one file; split it or raise "
                "ETLA_MAX_ROWS."
            )

    def check_lines(self, name: str, batch: pa.RecordBatch) -> None:
        """Refuse a batch holding a row longer than the line limit (its fields' bytes, delimiters aside)."""
        if self.max_line_bytes is None or batch.num_rows == 0 or batch.num_columns == 0:
            return
        lengths = [pc.fill_null(pc.binary_length(column), 0) for column in batch.columns
                   if pa.types.is_string(column.type) or pa.types.is_binary(column.type)]
        if not lengths:
            return
        widest = sum(pc.max(length).as_py() or 0 for length in lengths)
        if widest <= self.max_line_bytes:
            return  # the sum of every column's longest value bounds each row: the common, cheap case
        row_bytes = lengths[0]
        for length in lengths[1:]:
            row_bytes = pc.add(row_bytes, length)
        longest = pc.max(row_bytes).as_py() or 0
        if longest > self.max_line_bytes:
            raise InputError(
                f"{name} has a line of {longest / MIB:.1f} MiB, longer than the limit of "
                f"{self.max_line_bytes / MIB:g} MiB; check the delimiter and quoting,"
                " or raise ETLA_MAX_LINE_KB."
            )


def too_large(name: str, max_bytes: int, projected: float | None = None) -> InputError:
    size = f"about {projected / MIB:,.0f} MiB" if projected else f"more than {max_bytes / MIB:,.0f} MiB"
    return InputError(
        f"{name} expands to {size} when read, over the limit of {max_bytes / MIB:,.0f} MiB for one file; "
        "send a smaller file or raise ETLA_MAX_DECOMPRESSED_MB."
    )


# Decompressed bytes read before the final size is projected from the compression ratio so far.
PROJECT_AFTER_BYTES = 32 * MIB


class CappedStream:
    """A binary stream that raises the limit's sentence once more than `max_bytes` were read from it.

    With `compressed` (the file's size on disk and how much of it was consumed) a bomb is refused early: once
    32 MiB came out, a projected total of more than twice the limit stops the read (twice, so a file whose
    head compresses better than its tail is not refused by the estimate).
    """

    def __init__(self, stream: BinaryIO, name: str, max_bytes: int,
                 compressed: tuple[int, Callable[[], int]] | None = None) -> None:
        self._stream = stream
        self._name = name
        self._max_bytes = max_bytes
        self._compressed = compressed
        self._read = 0
        self.closed = False

    def _count(self, data: bytes) -> bytes:
        self._read += len(data)
        if self._read > self._max_bytes:
            raise too_large(self._name, self._max_bytes)
        if self._compressed is not None and self._read >= PROJECT_AFTER_BYTES:
            size, consumed = self._compressed
            position = consumed()
            if position > 0 and self._read * size / position > 2 * self._max_bytes:
                raise too_large(self._name, self._max_bytes, projected=self._read * size / position)
        return data

    def read(self, size: int = -1) -> bytes:
        # An unbounded read is taken in steps, so the limit stops it before the whole stream is in memory.
        if size is None or size < 0:
            parts = []
            while chunk := self.read(MIB):
                parts.append(chunk)
            return b"".join(parts)
        return self._count(self._stream.read(min(size, self._max_bytes + 1 - self._read) or 1))

    def readline(self, size: int = -1) -> bytes:
        room = self._max_bytes + 1 - self._read  # a line without an end stops at the limit too
        return self._count(self._stream.readline(room if size is None or size < 0 else min(size, room)))

    def __iter__(self) -> CappedStream:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self._stream.close()

    def __enter__(self) -> CappedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
