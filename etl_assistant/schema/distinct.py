"""Distinct counting in one streaming pass: exact up to a bound, then 64-bit hashes.

Past the bound a column keeps every hash while no duplicate has been seen (so a primary-key candidate is
still verified exactly, up to 64-bit hash collisions), and a K-minimum-values sketch for the estimate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EXACT_LIMIT = 100_000
KMV_SIZE = 4096
_WEIGHTS = (
    np.random.default_rng(0x5EED).integers(1, 2**62, size=256, dtype=np.uint64) << np.uint64(1)
) | np.uint64(1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads a linear hash over all 64 bits."""
    z = values + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique without numpy 2's slow hash-table path: sort, then drop repeats."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def hash_strings(values: pa.Array) -> np.ndarray:
    """A 64-bit hash per (non-null) string, vectorised over Arrow's offset and data buffers."""
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    n = len(values)
    _, offset_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int32, count=n + 1, offset=values.offset * 4)
    start = int(offsets[0])
    lengths = np.diff(offsets).astype(np.uint64)
    seg_starts = (offsets[:-1] - start).astype(np.int64)
    total = int(offsets[-1]) - start
    sums = np.zeros(n, dtype=np.uint64)
    if total:
        data = np.frombuffer(data_buffer, dtype=np.uint8, count=total, offset=start).astype(np.uint64)
        positions = np.arange(total, dtype=np.int64) - np.repeat(seg_starts, lengths.astype(np.int64))
        products = (data + np.uint64(1)) * _WEIGHTS[positions & 255]
        nonempty = lengths > 0
        sums[nonempty] = np.add.reduceat(products, seg_starts[nonempty])
    return _mix(sums ^ (lengths * _GOLDEN))


KeyFunction = Callable[[pa.Array], "np.ndarray | None"]


def _numeric_keys(keys: np.ndarray | None) -> bool:
    return keys is not None and keys.dtype in (np.int64, np.float64)


class DistinctCounter:
    """Counts distinct non-null values of one column across batches and notices duplicates.

    Past the exact bound, numbers, dates and timestamps are hashed from their parsed values (`keys`, cheap)
    rather than their text; `key_function` gives the keys of the exact set at that moment.
    """

    def __init__(self, key_function: KeyFunction | None = None) -> None:
        self.key_function = key_function
        self.by_keys = False  # hashes come from numeric keys instead of text
        self.inexact = False  # the kind of key changed after hashing started: only an estimate remains
        self.exact: pa.Array = pa.array([], type=pa.string())
        self.pending: list[pa.Array] = []
        self.pending_rows = 0
        self.duplicate = False
        self.kmv: np.ndarray | None = None  # set once the exact set outgrew EXACT_LIMIT
        self.hashes: list[np.ndarray] | None = None  # all hashes, kept while no duplicate is known
        self.hash_rows = 0
        self.checked_rows = 0

    def add(self, uniques: pa.Array, had_duplicates: bool, keys: np.ndarray | None = None) -> None:
        """Add the distinct non-null values of one batch (and whether the batch repeated any); `keys` are
        their parsed values when the column's type has them."""
        self.duplicate |= had_duplicates
        if not len(uniques):
            return
        if self.kmv is not None:
            self._add_hashes(self._hash(uniques, keys))
            return
        self.pending.append(uniques)
        self.pending_rows += len(uniques)
        if self.pending_rows >= EXACT_LIMIT // 4:
            self._merge()

    def _merge(self) -> None:
        combined = pa.concat_arrays([self.exact, *self.pending])
        merged = pc.unique(combined)
        self.duplicate |= len(merged) < len(combined)
        self.exact, self.pending, self.pending_rows = merged, [], 0
        if len(merged) > EXACT_LIMIT:
            self.kmv = np.empty(0, dtype=np.uint64)
            self.hashes = None if self.duplicate else []
            self.exact = pa.array([], type=pa.string())
            keys = self.key_function(merged) if self.key_function else None
            self.by_keys = _numeric_keys(keys)
            self.key_dtype = keys.dtype if keys is not None else None
            self._add_hashes(self._hash(merged, keys))

    def key_kind_changed(self) -> None:
        """The column's type widened: keys hashed from now on are not comparable with earlier ones."""
        if self.by_keys:
            self.inexact, self.hashes = True, None

    def _hash(self, uniques: pa.Array, keys: np.ndarray | None) -> np.ndarray:
        if not self.by_keys:
            return hash_strings(uniques)
        if _numeric_keys(keys) and keys.dtype == self.key_dtype:  # type: ignore[union-attr]
            return _mix(np.ascontiguousarray(keys).view(np.uint64))
        self.inexact, self.hashes = True, None
        return hash_strings(uniques)

    def _add_hashes(self, hashes: np.ndarray) -> None:
        assert self.kmv is not None
        if len(self.kmv) == KMV_SIZE:
            candidates = hashes[hashes < self.kmv[-1]]
        else:
            candidates = hashes
        self.kmv = _sorted_unique(np.concatenate([self.kmv, candidates]))[:KMV_SIZE]
        if self.hashes is None:
            return
        self.hashes.append(hashes)
        self.hash_rows += len(hashes)
        if self.hash_rows >= 2 * max(self.checked_rows, EXACT_LIMIT):
            self._check_hash_duplicates()

    def _check_hash_duplicates(self, keep: bool = False) -> int:
        """Distinct hashes kept so far; on a duplicate they are dropped unless `keep` (the final count)."""
        assert self.hashes is not None
        merged = np.concatenate(self.hashes)
        unique = _sorted_unique(merged)
        if len(unique) < len(merged):
            self.duplicate = True
            if not keep:
                self.hashes = None
                return len(unique)
        self.hashes, self.checked_rows = [unique], len(unique)
        return len(unique)

    def result(self) -> tuple[int, bool]:
        """(distinct count, whether it is an estimate)."""
        if self.kmv is None and self.pending:
            self._merge()
        if self.kmv is None:
            return len(self.exact), False
        if self.hashes is not None and not self.inexact:
            return self._check_hash_duplicates(keep=True), False
        fraction = float(self.kmv[-1]) / 2.0**64
        return int(round((len(self.kmv) - 1) / fraction)), True
