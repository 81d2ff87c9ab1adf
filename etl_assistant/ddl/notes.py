"""The explanation of a DDL design: column-level choices grouped into one sentence per kind of choice.

Type rules call `notes.add(kind, item)` while they decide; table-level rules (sort key, partitions, keys) call
`notes.say(sentence)`. Grouping keeps the explanation short: one sentence for all LowCardinality columns,
not one per column.
"""

from __future__ import annotations

# One template per kind of column-level choice; {items} is the comma-separated list of columns.
TEMPLATES: dict[str, str] = {
    "low_cardinality": "LowCardinality for {items} (distinct values): under 10,000 distinct values each, "
                       "so a dictionary encoding shrinks storage and speeds up filters.",
    "nullable": "Nullable only for {items}, where nulls were seen; every other column is non-nullable "
                "(ClickHouse's own inference would wrap every column).",
    "key_headroom": "Key columns get at least 32-bit integers, since ids grow past today's range: {items}.",
    "small_int": "Integers use the smallest width holding the observed range: {items}.",
    "huge_int": "Exact wide numbers for integers beyond 64 bits: {items}.",
    "decimal_headroom": "Decimal precision widened to the largest of the same storage size, so bigger values "
                        "still fit at no cost: {items}.",
    "wide_decimal": "Kept as text, more decimal digits than the engine supports: {items}.",
    "wide_date": "Date32 for {items}: values fall outside Date's 1970-2149 range.",
    "whole_seconds": "DateTime (whole seconds) for {items}: no sub-second digits were seen, so DateTime64 "
                     "would waste space.",
    "subsecond": "Sub-second precision kept as observed: {items}.",
    "utc": "Stored as UTC instants, since the values carried time-zone offsets: {items}.",
    "microseconds": "Rounded to microseconds, PostgreSQL's finest precision: {items}.",
    "time_as_text": "Times of day kept as String (HH:MM:SS), ClickHouse having no stable time-of-day type: "
                    "{items}.",
    "numeric_headroom": "NUMERIC precision raised so larger values still fit; PostgreSQL stores NUMERIC by "
                        "value, so the headroom costs nothing: {items}.",
    "decimal_as_real": "REAL for decimals, SQLite having no exact decimal type (use PostgreSQL or ClickHouse "
                       "when cents must add up exactly): {items}.",
    "iso_text": "ISO-8601 TEXT for dates and times, which SQLite's date functions read directly: {items}.",
}


class Notes:
    """Collects design choices in the order they were made."""

    def __init__(self) -> None:
        self._items: dict[str, list[str]] = {}
        self._sentences: list[str] = []

    def add(self, kind: str, item: str) -> None:
        if kind not in TEMPLATES:
            raise KeyError(f"no explanation template for {kind!r}")
        self._items.setdefault(kind, []).append(item)

    def say(self, sentence: str) -> None:
        self._sentences.append(sentence)

    def sentences(self) -> list[str]:
        """Table-level sentences first (they matter most), then one sentence per kind of column choice."""
        grouped = [TEMPLATES[kind].format(items=", ".join(items)) for kind, items in self._items.items()]
        return [*self._sentences, *grouped]
