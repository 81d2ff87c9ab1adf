"""Resolve a user-given path into a readable source file, or say clearly why it cannot be read."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from etl_assistant.config import Settings
from etl_assistant.errors import InputError
from etl_assistant.schema.limits import CappedStream, ReadLimits

GZIP_MAGIC = b"\x1f\x8b"
FINGERPRINT_HEAD_BYTES = 65536


@dataclass(frozen=True)
class SourceFile:
    """A validated file: absolute path, size on disk and whether it is gzip-compressed."""

    path: Path
    size_bytes: int
    compression: Literal["gzip"] | None
    limits: ReadLimits = field(default_factory=ReadLimits)

    def open(self) -> BinaryIO:
        """The file's bytes, decompressed, as a stream (never read whole) that stops at the size limit."""
        if self.compression == "gzip":
            compressed = gzip.open(self.path, "rb")
            return self.capped(compressed, compressed.fileobj.tell)  # type: ignore[arg-type,union-attr]
        return open(self.path, "rb")

    def capped(self, stream: BinaryIO, consumed: Callable[[], int]) -> BinaryIO:
        """`stream` (decompressed bytes) stopping with the limit's sentence past the size limit, or early when
        the ratio so far (`consumed()` bytes of the file on disk) projects past it."""
        if self.limits.max_bytes is None:
            return stream
        return CappedStream(stream, self.path.name, self.limits.max_bytes,  # type: ignore[return-value]
                            compressed=(self.size_bytes, consumed))

    def head(self, size: int) -> bytes:
        """Up to `size` decompressed bytes from the start."""
        with self.open() as stream:
            return stream.read(size)

    def chunks_at(self, offsets: list[float], size: int) -> list[bytes]:
        """`size` raw bytes starting at each relative offset (0..1) of an uncompressed file."""
        if self.compression:
            raise ValueError("random access needs an uncompressed file")
        chunks = []
        with open(self.path, "rb") as stream:
            for fraction in offsets:
                stream.seek(int(max(0, self.size_bytes - size) * fraction))
                chunks.append(stream.read(size))
        return chunks

    def fingerprint(self) -> str:
        """size + mtime + hash of the head: changes when the file is replaced or edited."""
        stat = self.path.stat()
        with open(self.path, "rb") as stream:
            head = stream.read(FINGERPRINT_HEAD_BYTES)
        digest = hashlib.sha256(head).hexdigest()[:16]
        return f"{stat.st_size}-{stat.st_mtime_ns}-{digest}"


def _is_within(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def resolve_source(path: str | os.PathLike[str], settings: Settings) -> SourceFile:
    """Check the path is an allowed, existing, non-empty regular file and detect gzip by its magic bytes."""
    raw = str(path).strip()
    if not raw:
        raise InputError(
            "No file path was given; pass the path of a CSV, JSON, NDJSON, Parquet or XLSX file."
        )
    resolved = Path(raw).expanduser().resolve()
    roots = settings.resolved_allowed_roots
    if not _is_within(resolved, roots):
        allowed = ", ".join(str(root) for root in roots)
        raise InputError(
            f"{resolved} is outside the allowed folders ({allowed}); move the file there or add its "
            "folder to ETLA_ALLOWED_ROOTS."
        )
    if not resolved.exists():
        raise InputError(f"File {resolved} does not exist; check the path and try again.")
    if resolved.is_dir():
        raise InputError(f"{resolved} is a directory, not a file; pass the path of one data file inside it.")
    if not resolved.is_file():
        raise InputError(f"{resolved} is not a regular file; pass the path of a data file.")
    try:
        with open(resolved, "rb") as stream:
            magic = stream.read(2)
        size = resolved.stat().st_size
    except OSError as exc:
        raise InputError(f"File {resolved} cannot be read ({exc.strerror}); check its permissions.") from None
    if size == 0:
        raise InputError(f"File {resolved} is empty; export the data again with at least one row.")
    limits = ReadLimits.from_settings(settings)
    compression: Literal["gzip"] | None = "gzip" if magic == GZIP_MAGIC else None
    if compression is None:
        limits.check_size(resolved.name, size)
    return SourceFile(path=resolved, size_bytes=size, compression=compression, limits=limits)
