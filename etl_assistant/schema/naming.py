"""Safe identifiers: snake_case names every engine accepts unquoted, unique within a dataset."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Cyrillic is common in our users' files; transliterate it instead of dropping it.
_CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL truncates longer names


def to_identifier(name: str, fallback: str = "column") -> str:
    """`Order Date (UTC)` -> `order_date_utc`, `customerID` -> `customer_id`, `1st` -> `c_1st`."""
    text = _CAMEL_BOUNDARY.sub("_", name.strip())
    text = "".join(_CYRILLIC.get(ch, ch) for ch in text.lower())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = _NON_WORD.sub("_", text).strip("_")
    if not text:
        text = fallback
    if text[0].isdigit():
        text = f"c_{text}"
    return text[:MAX_IDENTIFIER_LENGTH].rstrip("_")


def unique_identifiers(names: Iterable[str]) -> list[str]:
    """Identifiers for a header row: empty names become column_N, duplicates get _2, _3..."""
    result: list[str] = []
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        base = to_identifier(name, fallback=f"column_{position}")
        candidate, suffix = base, 2
        while candidate in seen:
            candidate = f"{base[: MAX_IDENTIFIER_LENGTH - 4]}_{suffix}"
            suffix += 1
        seen.add(candidate)
        result.append(candidate)
    return result


def dataset_name(file_name: str) -> str:
    """`Orders 2024.csv.gz` -> `orders_2024`."""
    stem = file_name
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".json", ".ndjson", ".jsonl", ".parquet", ".xlsx"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return to_identifier(stem, fallback="dataset")
