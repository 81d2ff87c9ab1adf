"""The literal signature of a question: what must be equal, not just similar, for a cached answer to apply.

Sentence embeddings put "revenue in 2023" next to "revenue in 2024" (cosine 0.97) and barely notice "not" or
"lowest"; those words change the answer. So a cache hit also needs the same: numbers, dates, quoted strings,
the stored values, columns and tables the words link to, the resolved time range (relative phrases resolved
against `today`, so "last month" and "previous month" agree and "last month" asked next month does not), and
the polarity words: negation, ranking direction, comparisons and aggregate kind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date

from etl_assistant.nl2sql.lexicon import UNITS
from etl_assistant.nl2sql.schema_graph import SchemaGraph
from etl_assistant.nl2sql.text import NUMBER_WORDS, Token, lemma, number_value, tokenize
from etl_assistant.nl2sql.timerange import extract_time
from etl_assistant.nl2sql.values import IndexedValue

# Word -> the polarity class it sets; a class may hold several values ("not ... highest").
POLARITY = {
    **dict.fromkeys(
        (
            "not",
            "no",
            "without",
            "except",
            "excluding",
            "exclude",
            "non",
            "never",
            "neither",
            "nor",
            "isn't",
            "aren't",
            "wasn't",
            "weren't",
            "don't",
            "doesn't",
            "didn't",
        ),
        ("negation", "not"),
    ),
    **dict.fromkeys(
        (
            "top",
            "highest",
            "most",
            "largest",
            "biggest",
            "best",
            "max",
            "maximum",
            "greatest",
            "descending",
            "desc",
        ),
        ("direction", "high"),
    ),
    **dict.fromkeys(
        ("bottom", "lowest", "least", "smallest", "fewest", "worst", "min", "minimum", "ascending", "asc"),
        ("direction", "low"),
    ),
    **dict.fromkeys(
        ("over", "above", "more", "greater", "exceeding", "exceeds", "exceed", ">", ">=", "after"),
        ("comparison", "gt"),
    ),
    **dict.fromkeys(("under", "below", "less", "fewer", "<", "<=", "before"), ("comparison", "lt")),
    **dict.fromkeys(("average", "avg", "mean"), ("aggregate", "avg")),
    **dict.fromkeys(("count", "many", "number"), ("aggregate", "count")),
    **dict.fromkeys(("distinct", "unique", "different"), ("aggregate", "distinct")),
    **dict.fromkeys(("median",), ("aggregate", "median")),
    **dict.fromkeys(
        ("share", "percent", "percentage", "proportion", "ratio", "fraction"), ("aggregate", "share")
    ),
}
SHORT_CODE = 3  # stored values this short (country codes, flags) must match as written
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"|“([^”]+)”")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def literal_signature(
    question: str,
    today: date,
    graph: SchemaGraph | None = None,
    values: Iterable[IndexedValue] = (),
    links: dict[str, list[str]] | None = None,
) -> str:
    """A canonical JSON text; two questions may share an answer only when their signatures are equal.

    `links` (cache.links: what the parser links the words to, with value roles, and the parse's shape)
    replaces the lexical column and table checks when given."""
    text = question.replace("n't", " not")
    time = extract_time(text, today)
    in_time_phrase = [range(a, b) for a, b in time.spans]
    tokens = tokenize(text)
    lemmas = [t.lemma for t in tokens]
    numbers: set[str] = set()
    classes: dict[str, set[str]] = {}
    for token in tokens:
        if any(token.start in span for span in in_time_phrase):
            continue
        value = NUMBER_WORDS.get(token.low)
        value = value if value is not None else number_value(token.low)
        if value is not None and not _DATE.fullmatch(token.low):
            numbers.add(f"{value:g}")
        elif token.low in UNITS and numbers:
            classes.setdefault("unit", set()).add(UNITS[token.low][0])  # "60 minutes" is not "60 miles"
        if token.low in POLARITY and not _leads_into_time(text, token, time.spans):
            kind, label = POLARITY[token.low]
            classes.setdefault(kind, set()).add(label)
    if links is not None and links.get("query"):
        classes.pop("aggregate", None)  # the sure parse holds it: "trips" and "how many trips" agree
    signature = {
        "numbers": sorted(numbers),
        "dates": sorted(_DATE.findall(text)),
        "quoted": sorted(
            " ".join(next(g for g in m.groups() if g).lower().split()) for m in _QUOTED.finditer(text)
        ),
        "time": [str(time.start or ""), str(time.end or ""), time.latest or "", time.bucket or ""],
        "values": sorted(_linked_values(tokens, values)),
        **{kind: sorted(labels) for kind, labels in sorted(classes.items())},
    }
    if links is not None:
        signature["links"] = links
    else:
        signature["columns"] = sorted(_linked_columns(set(lemmas), graph))
        tables = graph.tables.values() if graph else []
        signature["tables"] = sorted(t.name for t in tables if t.noun in lemmas)
    return json.dumps(signature, sort_keys=True, separators=(",", ":"))


def _leads_into_time(text: str, token: Token, spans: list[tuple[int, int]]) -> bool:
    """ "over the last 30 days", "before 2024": the word introduces a time range, it compares nothing."""
    end = token.start + len(token.text)
    return any(start >= end and text[end:start].strip().lower() in ("", "the") for start, _ in spans)


def _linked_values(tokens: list[Token], values: Iterable[IndexedValue]) -> set[str]:
    """Stored values whose words appear in order in the question ("europe" -> orders.region=Europe). A short
    code ("IN", "US") links only as written: the words "in" and "us" are not India and the United States."""
    text = " " + " ".join(t.lemma for t in tokens) + " "
    as_written = {t.text for t in tokens}
    return {
        f"{v.table}.{v.column}={v.value}"
        for v in values
        if v.lemmas
        and (v.value in as_written if len(v.value) <= SHORT_CODE else f" {' '.join(v.lemmas)} " in text)
    }


def _linked_columns(lemmas: set[str], graph: SchemaGraph | None) -> set[str]:
    """Columns every word of whose name the question uses ("by region" -> orders.region)."""
    if graph is None:
        return set()
    return {
        f"{c.table}.{c.name}"
        for c in graph.columns()
        if c.words and all(lemma(w) in lemmas for w in c.words if not w.isdigit())
    }
