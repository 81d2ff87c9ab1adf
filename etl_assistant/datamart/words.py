"""Words -> DatamartSpec: "daily revenue and order count per region from orders".

Deliberately simple: a grain word, measure phrases before "per"/"by", dimension phrases after them, and an
optional "from <dataset>". Every word is linked to a column of the source dataset by name and type; when a
word fits several columns the ToolError names them, so the person (or the model) can say which.
"""

from __future__ import annotations

import re

from etl_assistant.datamart.spec import DatamartSpec, Grain, Measure
from etl_assistant.errors import ToolError
from etl_assistant.schema.model import ColumnProfile, DatasetSchema

GRAIN_WORDS: dict[str, Grain] = {
    "daily": "day",
    "day": "day",
    "days": "day",
    "weekly": "week",
    "week": "week",
    "weeks": "week",
    "monthly": "month",
    "month": "month",
    "months": "month",
}
NUMERIC = ("integer", "float", "decimal")
TEMPORAL = ("date", "datetime")
# Words naming money: the first one that is a column of the dataset wins.
MONEY_WORDS = ("revenue", "sales", "amount", "total", "price", "value")
AGG_PREFIXES: dict[str, str] = {
    "average": "avg",
    "avg": "avg",
    "mean": "avg",
    "total": "sum",
    "sum": "sum",
    "min": "min",
    "minimum": "min",
    "lowest": "min",
    "max": "max",
    "maximum": "max",
    "highest": "max",
}
COUNT_WORDS = ("count", "number", "num")
FILLER = {
    "the",
    "a",
    "an",
    "of",
    "as",
    "datamart",
    "mart",
    "data",
    "me",
    "make",
    "build",
    "create",
    "show",
    "give",
    "in",
    "on",
    "with",
    "each",
    "for",
    "every",
    "table",
    "please",
    "and",
}
_SPLIT = re.compile(r"\s*(?:,|\band\b|&)\s*")
_SPLIT_DIMENSIONS = re.compile(r"\s*(?:,|\band\b|&|\bby\b|\bper\b)\s*")


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9_]+", text.lower()) if t]


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def link_column(
    word: str, schema: DatasetSchema, types: tuple[str, ...] | None = None, what: str = "column"
) -> ColumnProfile:
    """The one column of `schema` that `word` names (exact, singular, or a whole token of its name)."""
    columns = [c for c in schema.columns if types is None or c.type in types]
    key = "_".join(_tokens(word))
    for candidate in (key, _singular(key)):
        exact = [c for c in columns if c.identifier == candidate]
        if exact:
            return exact[0]
    parts = set(_tokens(word.replace("_", " "))) | {_singular(t) for t in _tokens(word.replace("_", " "))}
    partial = [c for c in columns if parts & set(c.identifier.split("_"))]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = ", ".join(c.identifier for c in partial)
        raise ToolError(f"{word!r} could mean several {what}s of {schema.name} ({names}); say which one.")
    known = ", ".join(c.identifier for c in columns) or "none"
    raise ToolError(f"No {what} of {schema.name} matches {word!r}; its candidates are: {known}.")


def _money_column(schema: DatasetSchema, word: str) -> ColumnProfile:
    numeric = {c.identifier: c for c in schema.columns if c.type in NUMERIC}
    for name in (word, *MONEY_WORDS):
        if name in numeric:
            return numeric[name]
    return link_column(word, schema, NUMERIC, "numeric column")


def _measure(phrase: str, schema: DatasetSchema) -> Measure:
    words = [w for w in _tokens(phrase) if w not in FILLER]
    if not words:
        raise ToolError(
            f"The measure {phrase!r} is empty; name what to aggregate, e.g. revenue or order count."
        )
    distinct = [w for w in words if w in ("distinct", "unique")]
    if distinct:
        subject = [w for w in words if w not in COUNT_WORDS and w not in distinct]
        column = link_column(" ".join(subject), schema)
        return Measure(name=f"distinct_{column.identifier}", agg="count_distinct", column=column.identifier)
    if any(w in COUNT_WORDS for w in words) or (
        len(words) == 1
        and _singular(words[0]) == _singular(schema.name)
        and words[0] not in {c.identifier for c in schema.columns}
    ):
        subject = [w for w in words if w not in COUNT_WORDS]
        return Measure(name=f"{_singular(subject[0]) if subject else 'row'}_count", agg="count")
    agg = AGG_PREFIXES.get(words[0])
    subject = " ".join(words[1:] if agg else words)
    if not subject:
        raise ToolError(f"The measure {phrase!r} names no column; say e.g. 'average amount'.")
    if agg in ("avg", "min", "max"):
        types = NUMERIC if agg == "avg" else None
        column = link_column(subject, schema, types, "column" if types is None else "numeric column")
        return Measure(name=f"{agg}_{column.identifier}", agg=agg, column=column.identifier)
    column = _money_column(schema, "_".join(_tokens(subject)))
    name = (
        "_".join(_tokens(subject)) if subject in MONEY_WORDS or agg is None else f"total_{column.identifier}"
    )
    return Measure(name=name, agg="sum", column=column.identifier)


def _grain(words: list[str]) -> Grain | None:
    found = {GRAIN_WORDS[w] for w in words if w in GRAIN_WORDS}
    if len(found) > 1:
        raise ToolError(f"The request names several time grains ({', '.join(sorted(found))}); keep one.")
    return found.pop() if found else None


def _time_column(schema: DatasetSchema, mentioned: list[str]) -> ColumnProfile:
    temporal = [c for c in schema.columns if c.type in TEMPORAL]
    named = [c for c in temporal if c.identifier in mentioned]
    if named:
        return named[0]
    dates = [c for c in temporal if c.type == "date"]
    if len(dates) == 1:
        return dates[0]
    if len(temporal) == 1:
        return temporal[0]
    if not temporal:
        raise ToolError(
            f"{schema.name} has no date or datetime column to bucket by day, week or month; "
            "drop the time grain or pick another dataset."
        )
    names = ", ".join(c.identifier for c in temporal)
    raise ToolError(
        f"Several date columns of {schema.name} could be the time ({names}); say which, e.g. "
        f"'by {temporal[0].identifier}'."
    )


def split_request(text: str) -> tuple[str, str, str | None]:
    """(measures part, dimensions part, dataset named after 'from')."""
    lowered = " " + text.lower().strip().rstrip(".?!") + " "
    dataset = None
    match = re.search(r"\bfrom\s+([a-z0-9_.\-]+)", lowered)
    if match:
        dataset = match.group(1).removesuffix(".csv").replace("-", "_").replace(".", "_")
        lowered = lowered[: match.start()] + " " + lowered[match.end() :]
    lowered = re.sub(r"\bas (?:a |an )?(?:datamart|data mart|mart|table|view)\b", " ", lowered)
    parts = re.split(r"\b(?:per|by|for each|for every|grouped by|broken down by)\b", lowered, maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else "", dataset


def parse_request(text: str, schema: DatasetSchema, name: str | None = None) -> DatamartSpec:
    """A DatamartSpec for `text` over `schema`; ToolError naming candidates when a word is ambiguous."""
    measures_part, dims_part, _ = split_request(text)
    grain = _grain(_tokens(measures_part) + _tokens(dims_part))
    dimensions: list[str] = []
    mentioned_time: list[str] = []
    for phrase in _SPLIT_DIMENSIONS.split(dims_part):
        words = [w for w in _tokens(phrase) if w not in FILLER and w not in GRAIN_WORDS]
        if not words:
            continue
        column = link_column(" ".join(words), schema, what="column")
        if column.type in TEMPORAL and grain is not None:
            mentioned_time.append(column.identifier)
        elif column.identifier not in dimensions:
            dimensions.append(column.identifier)
    measure_phrases = [
        p
        for p in _SPLIT.split(measures_part)
        if [w for w in _tokens(p) if w not in FILLER and w not in GRAIN_WORDS]
    ]
    if not measure_phrases:
        raise ToolError(
            f"I found no measure in {text!r}; name one, e.g. 'revenue', 'order count' or 'average amount'."
        )
    measures = [
        _measure(" ".join(w for w in _tokens(p) if w not in GRAIN_WORDS), schema) for p in measure_phrases
    ]
    time_column = _time_column(schema, mentioned_time).identifier if grain else None
    label = "_".join(
        filter(
            None,
            [
                {"day": "daily", "week": "weekly", "month": "monthly"}[grain] if grain else "",
                measures[0].name,
                "by_" + "_".join(dimensions) if dimensions else "",
            ],
        )
    )
    return DatamartSpec(
        name=name or label,
        dataset=schema.name,
        grain=grain,
        time_column=time_column,
        dimensions=dimensions,
        measures=measures,
    )
