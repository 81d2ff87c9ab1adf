"""Values of text columns too large to index ("Chicago Ohare Intl" among 1,458 airport names, "Hank Aaron"
among 21,000 players), looked up on the engine at ask time for the words of a question nothing else linked.

The value index (values.py) holds columns of at most CATEGORY_MAX_DISTINCT values; names of people, places and
titles have more. Rather than read them all, each unlinked word is probed in those columns: one bounded
`lower(column) LIKE '%word%'` per column and word (built with sqlglot, the word a literal), cached per table
version, within a time budget per ask. The question's spans are then matched against the values found, in
order: the whole value (case, punctuation and accents aside), a value the span begins ("Newark" -> "Newark
Liberty Intl", only when it is the column's one such value), and a person's name split over a first-name and
a last-name column of one row ("Hank Aaron" -> name_first 'Hank' AND name_last 'Aaron'). A match becomes an
ordinary value mention, so the parser filters it, through a join when the column lives in another table.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlglot import exp

from etl_assistant.errors import EtlError
from etl_assistant.nl2sql import lexicon
from etl_assistant.nl2sql.cache import BoundedCache
from etl_assistant.nl2sql.linker import Mention
from etl_assistant.nl2sql.schema_graph import CATEGORY_MAX_DISTINCT, CODE_WORDS, Column, SchemaGraph
from etl_assistant.nl2sql.text import Token
from etl_assistant.warehouse.statements import render

if TYPE_CHECKING:  # warehouse.base imports tools.base, which loads the tool registry (and this module)
    from etl_assistant.warehouse.base import Warehouse

PROBE_BUDGET_S = 0.5  # engine time one ask may spend probing; words left over stay unlinked
PROBE_ROWS = 50  # distinct values one word may fetch from one column; more: too common to pin a value alone
PROBE_TIMEOUT_S = 2.0  # one probe query
PROBE_CHOICES = 5  # values a span may begin before it is too vague to narrow down by the rows that use them
MAX_SPAN = 6  # tokens in one value ("Let There Be Rock")
_FIRST_WORDS = {"first", "given", "fore", "forename"}
_LAST_WORDS = {"last", "family", "surname", "sur"}
_PREFIX_SCORE = 0.75  # "Newark" for "Newark Liberty Intl": likely, but worth confirming

# (url, table, version, column, word) -> (values,), values None when the word is too common in the column
_fetched: BoundedCache[tuple, tuple[list[str] | None]] = BoundedCache(8192)
_pairs: BoundedCache[tuple, bool] = BoundedCache(2048)


def fold(text: str) -> str:
    """Lowercase without accents: "José" -> "jose" (one character for each, so offsets keep)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def value_words(text: str) -> tuple[str, ...]:
    """Comparable words of a value or a question span: folded, apostrophes and dots inside words dropped
    ("Chicago O'Hare" and "chicago ohare" agree, "D.R." is "dr")."""
    return tuple(re.findall(r"[a-z0-9]+", re.sub(r"(?<=\w)['.](?=\w)", "", fold(text))))


def probe_columns(graph: SchemaGraph) -> list[Column]:
    """Text columns too large for the value index that can name something: not join keys, not codes, not
    in a datamart; columns named like names and titles first (they are probed first within the budget)."""
    keys = {(e.table, e.column) for e in graph.edges} | {(e.ref_table, e.ref_column) for e in graph.edges}
    columns = [
        c
        for c in graph.columns()
        if c.type == "string"
        and c.role == "text"
        and (c.distinct is None or c.distinct > CATEGORY_MAX_DISTINCT)
        and (c.table, c.name) not in keys
        and not (c.words and c.words[-1] in CODE_WORDS)
        and not graph.tables[c.table].derived
    ]
    return sorted(columns, key=lambda c: not ({"name", "title"} & set(c.words)))


class ValueProbe:
    """Looks words up in one warehouse's large text columns (see the module docstring)."""

    def __init__(self, graph: SchemaGraph, warehouse: Warehouse, budget_s: float = PROBE_BUDGET_S) -> None:
        self.graph = graph
        self.warehouse = warehouse
        self.budget_s = budget_s
        self.columns = probe_columns(graph)
        self.spent_ms = 0.0  # engine time of the last `mentions` call (cached words cost nothing)

    # --- engine -----------------------------------------------------------------------------------------

    def _key(self, column: Column, *rest: object) -> tuple:
        return (self.warehouse.url, column.table, self.graph.tables[column.table].version, column.name, *rest)

    def _run(self, query: exp.Expression, limit: int) -> list[tuple] | None:
        try:
            result = self.warehouse.query(
                render(query, self.warehouse.dialect), limit=limit, timeout_s=PROBE_TIMEOUT_S, read_only=True
            )
        except EtlError:
            return None  # an engine that refuses the probe leaves the words unlinked, as without it
        return [tuple(row) for row in result.rows]

    def fetch(self, column: Column, word: str) -> list[str] | None:
        """Distinct values of `column` containing `word` (any case); None when more than PROBE_ROWS do."""
        key = self._key(column, word)
        cached = _fetched.get(key)
        if cached is not None:
            return cached[0]
        col = exp.column(column.name, quoted=True)
        # "o'hare" finds "O'Hare" and "Ohare"; a vowel after the first letter may carry an accent ("Zürich")
        parts = [re.sub(r"(?<=.)[aeiouy]", "_", part) for part in re.findall(r"[a-z0-9]+", word)]
        pattern = "%" + "%".join(parts) + "%"
        query = (
            exp.select(col.copy())
            .distinct()
            .from_(exp.to_table(column.table, quoted=True))
            .where(exp.Like(this=exp.Lower(this=col.copy()), expression=exp.Literal.string(pattern)))
            .limit(PROBE_ROWS + 1)
        )
        rows = self._run(query, PROBE_ROWS + 1)
        found = (
            None if rows is None or len(rows) > PROBE_ROWS else [str(r[0]) for r in rows if r[0] is not None]
        )
        _fetched.put(key, (found,))
        return found

    def pair_exists(self, first: Column, first_value: str, last: Column, last_value: str) -> bool:
        """Whether one row has both name parts (Hank of one player and Aaron of another are nobody)."""
        key = self._key(first, first_value, last.name, last_value)
        cached = _pairs.get(key)
        if cached is not None:
            return cached
        query = (
            exp.select(exp.Literal.number(1))
            .from_(exp.to_table(first.table, quoted=True))
            .where(
                exp.and_(
                    exp.EQ(
                        this=exp.column(first.name, quoted=True), expression=exp.Literal.string(first_value)
                    ),
                    exp.EQ(
                        this=exp.column(last.name, quoted=True), expression=exp.Literal.string(last_value)
                    ),
                )
            )
            .limit(1)
        )
        found = bool(self._run(query, 1))
        _pairs.put(key, found)
        return found

    def _referenced(self, column: Column, values: set[str]) -> set[str]:
        """Of several rows a span may name ("Newark": Newark Liberty Intl, Newark Penn Station), the ones
        another table's rows point at: a question about flights means the airport that has flights."""
        edges = [e for e in self.graph.edges if e.ref_table == column.table]
        if not edges:
            return values
        referenced = exp.or_(
            *(
                exp.column(e.ref_column, quoted=True).isin(
                    query=exp.select(exp.column(e.column, quoted=True)).from_(
                        exp.to_table(e.table, quoted=True)
                    )
                )
                for e in edges
            )
        )
        col = exp.column(column.name, quoted=True)
        query = (
            exp.select(col.copy())
            .distinct()
            .from_(exp.to_table(column.table, quoted=True))
            .where(
                exp.and_(
                    exp.In(this=col.copy(), expressions=[exp.Literal.string(v) for v in sorted(values)]),
                    referenced,
                )
            )
            .limit(PROBE_CHOICES + 1)
        )
        key = self._key(column, "referenced", tuple(sorted(values)))
        cached = _fetched.get(key)
        if cached is None:
            rows = self._run(query, PROBE_CHOICES + 1)
            cached = ([str(r[0]) for r in rows] if rows is not None else None,)
            _fetched.put(key, cached)
        return set(cached[0]) if cached[0] is not None else values

    # --- matching ---------------------------------------------------------------------------------------

    def mentions(
        self,
        question: str,
        tokens: list[Token],
        known: set[str],
        named: Callable[[Column], bool],
        indexed: list[range] = (),
    ) -> list[Mention]:
        """Value mentions for spans of unused tokens whose words a probed column holds; marks them used.
        Only spans with a word outside `known` (the schema's vocabulary) are looked up, so a question the
        schema already covers costs no query. `named(column)`: the question's words name it or its table;
        `indexed`: spans the value index holds whole, left to the linker unless a longer span covers them."""
        self.spent_ms = 0.0
        if not self.columns:
            return []
        free = [i for i, t in enumerate(tokens) if not t.used]
        # Words the schema does not know, and capitalised words past the first (names: "Denver" is also a
        # word of the indexed time zone 'America/Denver', yet "Denver Intl" is an airport).
        strange = {
            i
            for i in free
            if _content(tokens[i])
            and (not {tokens[i].low, tokens[i].lemma} & known or (i > 0 and tokens[i].text[:1].isupper()))
        }
        words = sorted({w for i in strange for w in value_words(tokens[i].text)})
        if not words:
            return []
        found = self._lookup(words)
        exact: dict[tuple[str, ...], list[tuple[Column, str]]] = {}
        prefix: dict[tuple[str, ...], list[tuple[Column, str]]] = {}
        for column, values in found.items():
            for value in values:
                stored = value_words(value)
                exact.setdefault(stored, []).append((column, value))
                for n in range(1, len(stored)):
                    prefix.setdefault(stored[:n], []).append((column, value))
        mentions: list[Mention] = []
        refused: set[int] = set()  # tokens of a name nobody has: left for the parser to ask about
        for length in range(MAX_SPAN, 0, -1):
            for start in free:
                span = tokens[start : start + length]
                where = range(start, start + length)
                if len(span) < length or any(t.used for t in span) or strange.isdisjoint(where):
                    continue
                if not refused.isdisjoint(where) or any(
                    len(held) >= length and not set(held).isdisjoint(where) for held in indexed
                ):
                    continue
                if not (_content(span[0]) and _content(span[-1])) or (
                    length == 1 and not span[0].text[0].isupper()
                ):
                    continue  # a lone lowercase word ("left", "record") is too often an ordinary word
                said = question[span[0].start : span[-1].start + len(span[-1].text)]
                linked = self._match(value_words(said), start, length, exact, prefix, named)
                if linked is None:
                    refused.update(where)
                elif linked:
                    for token in span:
                        token.used = True
                    mentions += linked
        return mentions

    def _lookup(self, words: list[str]) -> dict[Column, set[str]]:
        started = time.perf_counter()
        found: dict[Column, set[str]] = {}
        for column in self.columns:
            for word in words:
                if time.perf_counter() - started > self.budget_s:
                    self.spent_ms = (time.perf_counter() - started) * 1000
                    return found
                values = self.fetch(column, word)
                if values:
                    found.setdefault(column, set()).update(values)
        self.spent_ms = (time.perf_counter() - started) * 1000
        return found

    def _match(
        self,
        said: tuple[str, ...],
        start: int,
        length: int,
        exact: dict[tuple[str, ...], list[tuple[Column, str]]],
        prefix: dict[tuple[str, ...], list[tuple[Column, str]]],
        named: Callable[[Column], bool],
    ) -> list[Mention] | None:
        if not said:
            return []
        hits, score = exact.get(said, []), 1.0
        if not hits:
            by_column: dict[Column, set[str]] = {}
            for column, value in prefix.get(said, []):
                by_column.setdefault(column, set()).add(value)
            by_column = {
                c: self._referenced(c, v) if 1 < len(v) <= PROBE_CHOICES else v for c, v in by_column.items()
            }
            hits = [(c, next(iter(v))) for c, v in by_column.items() if len(v) == 1]  # the column's only one
            score = _PREFIX_SCORE
        if hits:
            hits = sorted(hits, key=lambda h: (not named(h[0]), self.graph.tables[h[0].table].label != h[0]))
            value = hits[0][1]
            columns = list(dict.fromkeys(c for c, v in hits if v == value))
            return [Mention("value", start, start + length, score, columns[0].table, columns, value=value)]
        return self._person(said, start, exact) if length == 2 else []

    def _person(
        self, said: tuple[str, ...], start: int, exact: dict[tuple[str, ...], list[tuple[Column, str]]]
    ) -> list[Mention] | None:
        """ "Hank Aaron": a first-name column holding the first word and a last-name column of the same
        table the second, in one row."""
        if len(said) != 2:
            return []
        firsts = [(c, v) for c, v in exact.get(said[:1], []) if _FIRST_WORDS & set(c.words)]
        lasts = [(c, v) for c, v in exact.get(said[1:], []) if _LAST_WORDS & set(c.words)]
        pairs = [(f, fv, la, lv) for f, fv in firsts for la, lv in lasts if f.table == la.table]
        for first, first_value, last, last_value in pairs:
            if self.pair_exists(first, first_value, last, last_value):
                return [
                    Mention("value", start, start + 1, 1.0, first.table, [first], value=first_value),
                    Mention("value", start + 1, start + 2, 1.0, last.table, [last], value=last_value),
                ]
        return None if pairs else []  # None: a first and a last name of nobody, not two separate values


def _content(token: Token) -> bool:
    """A word that can begin or end a value: not a stopword, and either long or written with a capital."""
    word = token.low
    if not word[:1].isalpha() or word in lexicon.STOPWORDS or word in lexicon.FILLER:
        return False
    return len(word) >= 3 or token.text[:1].isupper()
