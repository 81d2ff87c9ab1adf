"""The streaming profiling pass: verify every value against its column's type and collect the statistics.

Each batch is checked against the column's current kind; a batch that does not fit moves the column up
its superset chain (see types.py), so the final type accepts every value in the file, however late the
outlier. Statistics that a widening to text invalidates (min/max, longest value) are recomputed for those
columns only, in a second pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_assistant.prefetch import prefetched
from etl_assistant.schema import temporal, types
from etl_assistant.schema.distinct import DistinctCounter
from etl_assistant.schema.model import ColumnProfile, TypeDetails
from etl_assistant.schema.readers import Layout, iter_text_batches

SAMPLE_VALUES = 5
INTEGER_WIDTHS = (8, 16, 32, 64, 128, 256)
ProgressFn = Callable[[int, int], None]


@dataclass
class ColumnStats:
    """Running statistics of one column."""

    name: str
    identifier: str
    kind: types.Kind | None = None  # None until the first non-null value
    formats: tuple[str, ...] = ()
    rows: int = 0
    nulls: int = 0
    min_key: Any = None
    min_text: str | None = None
    max_key: Any = None
    max_text: str | None = None
    true_values: set[str] = field(default_factory=set)
    false_values: set[str] = field(default_factory=set)
    scales: Counter[int] = field(default_factory=Counter)
    int_digits: int = 0
    exponent: bool = False
    fraction_digits: int = 0
    has_zone: bool = False
    max_length: int = 0
    samples: list[str] = field(default_factory=list)
    distinct: DistinctCounter = field(init=False)
    text_stats_stale: bool = False  # widened to string after some batches: min/max need a rescan
    native_float: bool = False  # the source stores binary floats (Parquet): never an exact decimal

    def __post_init__(self) -> None:
        self.distinct = DistinctCounter(self._keys_of)

    def _keys_of(self, values: pa.Array) -> np.ndarray | None:
        """Parsed values of text in the column's current type (for hashing), None for text types."""
        if self.kind in (None, "string", "uuid", "json", "boolean"):
            return None
        evidence = types.check(values, self.kind, self.formats)
        return evidence.keys if evidence is not None else None

    def add(self, raw: pa.Array) -> None:
        """Account for one batch of the column's text values (nulls already normalised)."""
        uniques, present = _distinct_trimmed(raw)
        earlier = self.rows - self.nulls
        self.rows += len(raw)
        self.nulls += len(raw) - present
        if not present:
            return
        if len(self.samples) < SAMPLE_VALUES:
            for value in uniques.slice(0, 2 * SAMPLE_VALUES).to_pylist():
                if len(self.samples) < SAMPLE_VALUES and value not in self.samples:
                    self.samples.append(value)
        if self.kind is None:
            evidence = types.classify(uniques)
        elif self.kind == "string":
            evidence = types.string_evidence(uniques)
        else:
            evidence = types.check(uniques, self.kind, self.formats) or types.widen(
                uniques, self.kind, self.formats
            )
        if self.kind is not None and evidence.kind != self.kind:
            self.distinct.key_kind_changed()
        self._merge(evidence, uniques, earlier)
        self.distinct.add(uniques, had_duplicates=len(uniques) < present, keys=evidence.keys)

    def _merge(self, evidence: types.Evidence, values: pa.Array, earlier: int) -> None:
        if self.kind is not None and evidence.kind != self.kind and earlier:
            self._widen_to(evidence.kind, earlier)
        self.kind, self.formats = evidence.kind, evidence.formats
        if evidence.kind == "string":
            self._merge_text(values)
            return
        self.max_length = max(self.max_length, evidence.max_length)
        self.true_values |= evidence.true_values
        self.false_values |= evidence.false_values
        self.scales.update(evidence.scales)
        self.int_digits = max(self.int_digits, evidence.int_digits)
        self.exponent |= evidence.exponent
        self.fraction_digits = max(self.fraction_digits, evidence.fraction_digits)
        self.has_zone |= evidence.has_zone
        if evidence.keys is not None and len(evidence.keys):
            low, high = int(np.argmin(evidence.keys)), int(np.argmax(evidence.keys))
            if self.min_key is None or evidence.keys[low] < self.min_key:
                self.min_key, self.min_text = evidence.keys[low], values[low].as_py()
            if self.max_key is None or evidence.keys[high] > self.max_key:
                self.max_key, self.max_text = evidence.keys[high], values[high].as_py()

    def _widen_to(self, kind: types.Kind, earlier: int) -> None:
        """Carry statistics of the `earlier` values over a widening; text loses the typed min/max, which a
        rescan restores."""
        if kind == "string":
            self.text_stats_stale = True
            self.min_key = self.max_key = self.min_text = self.max_text = None
        elif self.kind == "integer" and kind == "decimal":
            self.scales[0] += earlier
        elif self.kind == "date" and kind == "datetime" and self.min_key is not None:
            self.min_key *= 86_400_000_000
            self.max_key *= 86_400_000_000

    def _merge_text(self, values: pa.Array) -> None:
        self.max_length = max(self.max_length, types.string_evidence(values).max_length)
        low_high = pc.min_max(values)
        low, high = low_high["min"].as_py(), low_high["max"].as_py()
        if self.min_text is None or low < self.min_text:
            self.min_text = low
        if self.max_text is None or high > self.max_text:
            self.max_text = high

    def rescan(self, raw: pa.Array) -> None:
        """Text statistics only (second pass of a column widened to string)."""
        values = pc.utf8_trim_whitespace(raw.drop_null())
        values = pc.filter(values, pc.not_equal(values, ""))
        if len(values):
            self._merge_text(values)

    def profile(self) -> ColumnProfile:
        kind: types.Kind = self.kind or "string"
        distinct, estimated = self.distinct.result()
        non_null = self.rows - self.nulls
        logical, details, low, high = self._type_and_details(kind)
        return ColumnProfile(
            name=self.name,
            identifier=self.identifier,
            type=logical,
            details=details,
            nullable=self.nulls > 0,
            null_fraction=round(self.nulls / self.rows, 6) if self.rows else 0.0,
            distinct_count=distinct,
            distinct_estimated=estimated,
            min=low,
            max=high,
            samples=self.samples,
            unique=non_null > 0 and self.nulls == 0 and not self.distinct.duplicate,
        )

    def _type_and_details(self, kind: types.Kind) -> tuple[Any, TypeDetails, str | None, str | None]:
        low, high = self.min_text, self.max_text
        if kind == "integer":
            return "integer", integer_details(self.min_key, self.max_key), low, high
        if kind == "decimal":
            if (
                self.native_float
                or types.numeric_kind(self.scales, self.int_digits, self.exponent) == "float"
            ):
                return "float", TypeDetails(), low, high
            scale = max(self.scales or {0: 0})
            return (
                "decimal",
                TypeDetails(precision=max(self.int_digits + scale, scale + 1, 1), scale=scale),
                low,
                high,
            )
        if kind == "boolean":
            details = TypeDetails(
                true_values=sorted(self.true_values), false_values=sorted(self.false_values)
            )
            return (
                "boolean",
                details,
                *(None if k is None else ("true" if k else "false") for k in (self.min_key, self.max_key)),
            )
        if kind in ("date", "datetime", "time"):
            fmt = self.formats[0] if self.formats else temporal.DATE_FORMATS[0]
            if kind != "date":
                fmt = temporal.full_format(fmt, self.fraction_digits > 0, self.has_zone)
            timed = kind != "date"
            details = TypeDetails(
                datetime_format=fmt,
                fraction_digits=self.fraction_digits if timed else None,
                timezone=self.has_zone if timed else None,
            )
            texts = [
                None if k is None else temporal.iso_text(k, kind, self.fraction_digits, self.has_zone)
                for k in (self.min_key, self.max_key)
            ]
            return kind, details, texts[0], texts[1]
        return kind, TypeDetails(max_length=self.max_length), low, high


def _distinct_trimmed(raw: pa.Array) -> tuple[pa.Array, int]:
    """(distinct trimmed non-blank values, how many values are neither null nor blank) of one batch.

    Trimming and every later check run on the distinct values only, which for most columns are few."""
    raw_uniques = pc.unique(raw).drop_null()
    trimmed = pc.utf8_trim_whitespace(raw_uniques)
    present = len(raw) - raw.null_count
    blank = pc.equal(trimmed, "")
    if pc.any(blank).as_py():
        present -= pc.sum(pc.is_in(raw, value_set=pc.filter(raw_uniques, blank))).as_py() or 0
        raw_uniques, trimmed = pc.filter(raw_uniques, pc.invert(blank)), pc.filter(trimmed, pc.invert(blank))
    if not pc.all(pc.equal(trimmed, raw_uniques)).as_py():
        trimmed = pc.unique(trimmed)  # " a" and "a" are the same value
    return trimmed, present


def integer_details(low: int | None, high: int | None) -> TypeDetails:
    """The smallest width (8..256 bits) holding low..high, unsigned when nothing is negative."""
    low, high = int(low or 0), int(high or 0)
    signed = low < 0
    for bits in INTEGER_WIDTHS:
        if signed and -(2 ** (bits - 1)) <= low and high < 2 ** (bits - 1):
            return TypeDetails(int_bits=bits, signed=True)
        if not signed and high < 2**bits:
            return TypeDetails(int_bits=bits, signed=False)
    return TypeDetails(int_bits=256, signed=signed)


@dataclass
class PassResult:
    columns: list[ColumnProfile]
    row_count: int
    ragged_rows: int
    ragged_examples: list[str]


def profile_source(
    layout: Layout,
    initial: dict[str, types.Evidence] | None = None,
    progress: ProgressFn | None = None,
    batch_rows: int = 65536,
    native_floats: frozenset[str] = frozenset(),
) -> PassResult:
    """One streaming pass over the whole source (plus a rescan of columns that widened to text)."""
    stats = [
        ColumnStats(name, ident, native_float=ident in native_floats)
        for name, ident in zip(layout.names, layout.identifiers, strict=True)
    ]
    for column in stats:
        seed = (initial or {}).get(column.identifier)
        if seed is not None:
            column.kind, column.formats = seed.kind, seed.formats
    rows, layout.ragged_rows, layout.ragged_examples = 0, 0, []
    # Parsing runs a batch or two ahead in a thread (pyarrow releases the GIL), so it overlaps the statistics
    # on a second core; progress is reported from this thread, where callers' callbacks expect it.
    position = (0, layout.source.size_bytes)

    def note(done: int, total: int) -> None:
        nonlocal position
        position = (done, total)

    for batch in prefetched(iter_text_batches(layout, batch_rows, note)):
        if progress is not None:
            progress(*position)
        rows += batch.num_rows
        for index, column in enumerate(stats):
            column.add(batch.column(index))
    ragged_rows, ragged_examples = layout.ragged_rows, list(layout.ragged_examples)
    stale = [column for column in stats if column.text_stats_stale]
    if stale:
        by_identifier = {column.identifier: column for column in stale}
        for batch in iter_text_batches(layout, batch_rows, columns=list(by_identifier)):
            for name in batch.schema.names:
                by_identifier[name].rescan(batch.column(name))
    layout.ragged_rows, layout.ragged_examples = ragged_rows, ragged_examples
    return PassResult([column.profile() for column in stats], rows, ragged_rows, ragged_examples)
