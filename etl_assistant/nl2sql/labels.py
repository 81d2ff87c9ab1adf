"""Result columns in the person's words: "top regions by revenue" gives a column `revenue`, not `sum_amount`.

The SQL keeps its aliases (they name what was computed: `sum_amount`); the rows shown to the person take the
question's own word for the measure when that word is how the parser reached the column (a measure synonym
that names a word of the column, or the column's own word), and the aggregate in words otherwise.
"""

from __future__ import annotations

from etl_assistant.nl2sql.build import measure_alias
from etl_assistant.nl2sql.lexicon import MEASURE_SYNONYMS
from etl_assistant.nl2sql.model import QueryParse
from etl_assistant.nl2sql.text import lemma, tokenize, words_of

_AGG_WORDS = {"sum": "", "avg": "average", "min": "lowest", "max": "highest", "median": "median"}
_AGG_DEFAULT = {"sum": "total", "avg": "average", "min": "lowest", "max": "highest", "median": "median"}


def measure_label(parse: QueryParse) -> str | None:
    """What to call the measure column, or None to keep the alias (counts, shares, listings)."""
    measure = parse.measure
    if measure is None or measure.ref is None or measure.agg not in _AGG_WORDS:
        return None
    column_words = {lemma(w) for w in words_of(measure.ref.column)}
    for token in tokenize(parse.question):
        word = token.lemma
        if word in column_words or column_words & set(MEASURE_SYNONYMS.get(word, ())):
            said = token.low.strip("'")
            return f"{_AGG_WORDS[measure.agg]} {said}".strip()
    return f"{_AGG_DEFAULT[measure.agg]} {' '.join(words_of(measure.ref.column))}"


def labelled_columns(parse: QueryParse, columns: list[str]) -> list[str]:
    """`columns` with the measure's alias replaced by its label (the other names stay; no duplicates made)."""
    label = measure_label(parse)
    if label is None or parse.measure is None or not columns or label in columns:
        return columns
    alias = measure_alias(parse.measure)
    return [label if name == alias else name for name in columns]
