"""Schema linking: which spans of a question name a table, a column, a stored value or a boolean flag.

Lexical first (exact words, lemmas, synonyms, typo correction against the schema's own vocabulary), then
fuzzy; every link carries a score so the parser can tell a sure reading from a guess.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from etl_assistant.nl2sql import lexicon
from etl_assistant.nl2sql.schema_graph import Column, SchemaGraph
from etl_assistant.nl2sql.text import Token, correct, lemma
from etl_assistant.nl2sql.values import IndexedValue

MentionKind = Literal["table", "column", "value", "flag"]
# Cosine similarity a meaning-only link needs, and its lead over the next column (all-MiniLM-L6-v2 puts
# unrelated business words around 0.3-0.55 from a column description; true paraphrases land above 0.65).
MEANING_THRESHOLD = 0.62
MEANING_MARGIN = 0.08
_FLAG_PREFIXES = ("is", "has", "was", "can")


@dataclass
class Mention:
    kind: MentionKind
    start: int  # token index
    end: int  # exclusive
    score: float
    table: str
    columns: list[Column] = field(default_factory=list)  # candidates, best first (kind column/flag/value)
    value: str | None = None  # stored value (kind value)
    negated: bool = False  # "inactive"
    via_synonym: bool = False
    qualified: bool = False  # "customer country": the table was named with the column
    by_meaning: bool = False  # linked by sentence embeddings, not by any word of the name

    @property
    def column(self) -> Column | None:
        return self.columns[0] if self.columns else None


class Linker:
    def __init__(self, graph: SchemaGraph, values: list[IndexedValue]) -> None:
        self.graph = graph
        self.values = values
        self.value_keys: dict[tuple[str, ...], list[IndexedValue]] = {}
        for value in values:
            self.value_keys.setdefault(value.lemmas, []).append(value)
        self.nouns = {t.noun: t.name for t in graph.tables.values()} | {
            t.name: t.name for t in graph.tables.values()
        }
        self.vocabulary = self._vocabulary()
        self.reserved = self.vocabulary - {w for v in values for w in v.words}  # words that are not values
        self._description_vectors = None  # embeddings of column descriptions, computed on first need

    def _vocabulary(self) -> set[str]:
        words = (
            set(lexicon.STOPWORDS)
            | lexicon.FILLER
            | set(lexicon.MEASURE_SYNONYMS)
            | set(lexicon.NAME_SYNONYMS)
        )
        for phrases in (lexicon.AGGREGATES, lexicon.COMPARISONS):
            words |= {w for phrase in phrases for w in phrase}
        words |= set(lexicon.SUPERLATIVES) | set(lexicon.MEASURE_ADJECTIVES) | lexicon.NEGATIONS
        words |= set(lexicon.ORDER_DIRECTIONS) | set(lexicon.UNITS) | lexicon.ROW_NOUNS
        words |= {w for name in lexicon.COUNTRIES for w in name.split()}
        words |= {w for c in self.graph.columns() for w in c.words} | {c.name for c in self.graph.columns()}
        words |= {w for v in self.values for w in v.words} | set(self.nouns)
        words |= {t.name.lower() for t in self.graph.tables.values()}
        for column in (c for c in self.graph.columns() if c.role == "boolean"):
            adjective = "".join(w for w in column.words if w not in _FLAG_PREFIXES)
            words |= {adjective, f"{adjective}ly", f"in{adjective}", f"un{adjective}", f"non{adjective}"}
        return words

    def spell_correct(self, tokens: list[Token]) -> int:
        """Replace typos by the vocabulary word they most likely meant; returns how many were corrected."""
        fixed = 0
        for token in tokens:
            if token.used or token.low in self.vocabulary or token.lemma in self.vocabulary:
                continue
            better = correct(token.low, self.vocabulary)
            if better:
                token.low, token.lemma = better, lemma(better)
                fixed += 1
        return fixed

    # --- mentions ---------------------------------------------------------------------------------------

    def link(self, tokens: list[Token]) -> list[Mention]:
        """Mentions over the unused tokens, longest and best first, never overlapping."""
        self._tokens = tokens
        mentions: list[Mention] = []
        i = 0
        while i < len(tokens):
            if tokens[i].used:
                i += 1
                continue
            found = self._best_at(tokens, i)
            if found is None:
                i += 1
                continue
            for token in tokens[found.start : found.end]:
                token.used = True
            mentions.append(found)
            i = found.end
        return mentions

    def link_by_meaning(self, tokens: list[Token], unknown: list[Token]) -> list[Mention]:
        """Last resort for words no lexical rule knows ("kilometers" -> distance_km): the sentence-embedding
        model (all-MiniLM-L6-v2, shared with the planner) against column descriptions; only a clear winner
        above MEANING_THRESHOLD links, and the parser lowers its confidence for it."""
        if not unknown:
            return []
        import numpy as np

        from etl_assistant.embeddings import embed

        columns = [c for c in self.graph.columns() if c.role != "key"]
        if self._description_vectors is None:
            self._description_vectors = embed([self._describe(c) for c in columns])
        similarity = embed([t.low for t in unknown]) @ self._description_vectors.T
        mentions = []
        for row, token in zip(similarity, unknown, strict=True):
            order = np.argsort(-row)
            best, runner_up = float(row[order[0]]), float(row[order[1]]) if len(order) > 1 else 0.0
            if best >= MEANING_THRESHOLD and best - runner_up >= MEANING_MARGIN:
                column = columns[int(order[0])]
                index = tokens.index(token)
                token.used = True
                mentions.append(
                    Mention(
                        "column",
                        index,
                        index + 1,
                        best,
                        column.table,
                        [column],
                        via_synonym=True,
                        by_meaning=True,
                    )
                )
        return mentions

    def _describe(self, column: Column) -> str:
        noun = self.graph.tables[column.table].noun
        words = list(column.words)
        return " ".join(words if noun in words else [noun, *words])

    def _best_at(self, tokens: list[Token], i: int) -> Mention | None:
        for length in (4, 3, 2, 1):
            span = tokens[i : i + length]
            if len(span) < length or any(t.used for t in span):
                continue
            candidates = [
                m
                for m in (
                    self._value(span, i),
                    self._qualified_column(span, i),
                    self._column(span, i),
                    self._table(span, i),
                    self._flag(span, i),
                )
                if m is not None
            ]
            if candidates:
                return self._rows_before_aggregates(max(candidates, key=lambda m: m.score))
        return None

    def _rows_before_aggregates(self, mention: Mention) -> Mention:
        """A datamart's column ranks after the same word in a table of rows: a question that names neither
        datamart ("revenue by channel") must not be read off two datamarts that cannot be joined."""
        if mention.columns and mention.kind in ("column", "value"):
            derived = {name for name, table in self.graph.tables.items() if table.derived}
            mention.columns.sort(key=lambda c: c.table in derived)
            mention.table = mention.columns[0].table
        return mention

    def _value(self, span: list[Token], i: int) -> Mention | None:
        lemmas = tuple(t.lemma for t in span)
        phrase = " ".join(t.low for t in span)
        found = self.value_keys.get(lemmas) or self.value_keys.get(tuple(t.low for t in span))
        score = 1.0
        if found and len(span) == 1 and span[0].low in lexicon.STOPWORDS | lexicon.FILLER:
            found = [v for v in found if v.value == span[0].text]  # "US" the country, not "us" the pronoun
        if not found and phrase in lexicon.COUNTRIES:
            codes = set(lexicon.COUNTRIES[phrase])
            found = [v for v in self.values if v.value.upper() in codes or v.value.lower() == phrase]
            score = 0.95
        if not found and len(span) == 1 and span[0].low not in self.reserved:
            found, score = self._fuzzy_value(span[0])
        if not found:
            return None
        columns = _unique_columns(self.graph, found)
        before = self._previous_word(span[0])
        if len(columns) > 1 and before in lexicon.DIRECTION_WORDS:
            hints = lexicon.DIRECTION_WORDS[before]
            columns.sort(key=lambda c: not any(w in hints for w in c.words))
        return Mention(
            "value",
            i,
            i + len(span),
            score + 0.05 * (len(span) - 1),
            columns[0].table,
            columns,
            value=found[0].value,
        )

    def _previous_word(self, token: Token) -> str:
        index = self._tokens.index(token)
        return self._tokens[index - 1].low if index > 0 else ""

    def _fuzzy_value(self, token: Token) -> tuple[list[IndexedValue], float]:
        """Short forms ("EU" -> Europe) and typos of single-word values."""
        word = token.low
        if word in lexicon.STOPWORDS | lexicon.FILLER or not word.isalpha():
            return [], 0.0
        if 2 <= len(word) <= 3 and token.text.isupper():
            prefixed = [
                v
                for v in self.values
                if len(v.words) == 1 and v.words[0].startswith(word) and len(v.words[0]) > len(word)
            ]
            return (prefixed, 0.8) if len({v.value for v in prefixed}) == 1 else ([], 0.0)
        leading = [v for v in self.values if len(v.words) > 1 and v.lemmas[0] == token.lemma]
        if len(word) >= 4 and len({(v.column, v.value) for v in leading}) == 1:
            return leading, 0.8  # "united" -> "United Airlines"
        if len(word) >= 5:
            single = {v.words[0]: v for v in self.values if len(v.words) == 1}
            close = difflib.get_close_matches(word, list(single), n=1, cutoff=0.85)
            if close:
                return [v for v in self.values if v.words == (close[0],)], 0.85
        return [], 0.0

    def _qualified_column(self, span: list[Token], i: int) -> Mention | None:
        """ "customer country", "product category": a table noun, then one of that table's columns."""
        if len(span) < 2:
            return None
        if span[0].low != span[0].lemma:
            return None  # "products priced under 10": a plural noun is the subject, not a qualifier
        table = self.nouns.get(span[0].lemma) or self._synonym_table(span[0].lemma)
        if table is None:
            return None
        rest = self._column(span[1:], i + 1, only_table=table)
        if rest is None:
            return None
        rest.start, rest.score, rest.qualified = i, rest.score + 0.1, True
        return rest

    def _column(self, span: list[Token], i: int, only_table: str | None = None) -> Mention | None:
        lemmas = [t.lemma for t in span]
        columns = [c for c in self.graph.columns() if only_table in (None, c.table)]
        exact = [c for c in columns if list(c.words) == lemmas or c.name == "_".join(t.low for t in span)]
        if len(span) == 1 and lemmas[0] in self.nouns and all(c.role == "key" for c in exact):
            exact = []  # "trips" counts the rows of trips, not its `trip` number column
        if exact:
            score = 1.0 + 0.05 * (len(span) - 1)
            ranked = _rank(exact, only_table)
            if len(span) == 1 and only_table is None:
                # Measures the word also means elsewhere, ranked after the exact ones: a datamart's `revenue`
                # must not hide orders.amount from a question that needs orders' joins.
                ranked += [c for c in self._measure_synonyms(lemmas[0], columns) if c not in ranked]
            return Mention("column", i, i + len(span), score, exact[0].table, ranked)
        if any(w in lexicon.STOPWORDS or w in self.nouns for w in lemmas) and len(span) == 1:
            return None
        if len(span) > 1:
            return self._partial_column(span, i, columns, only_table)
        word = lemmas[0]
        # One word naming the distinctive last word of a column ("date" of signup_date is not distinctive).
        tail = [c for c in columns if c.words and c.words[-1] == word and word not in _GENERIC_WORDS]
        if tail:
            shared = len([c for c in tail if c.table == tail[0].table]) > 1  # "delay": dep_ or arr_delay?
            ranked = _rank(tail, only_table)
            return Mention("column", i, i + 1, 0.9, tail[0].table, ranked, via_synonym=shared)
        for synonym_map, score in ((lexicon.MEASURE_SYNONYMS, 0.85), (lexicon.NAME_SYNONYMS, 0.8)):
            for rank, target in enumerate(synonym_map.get(word, ())):
                hits = [c for c in columns if target in c.words or lemma(c.name) == target]
                hits = [
                    c
                    for c in hits
                    if c.role == "measure" or (synonym_map is lexicon.NAME_SYNONYMS and c.role != "key")
                ]
                if hits:
                    return Mention(
                        "column",
                        i,
                        i + 1,
                        score - 0.02 * rank,
                        hits[0].table,
                        _rank(hits, only_table),
                        via_synonym=True,
                    )
        return self._partial_column(span, i, columns, only_table)

    def _measure_synonyms(self, word: str, columns: list[Column]) -> list[Column]:
        return [
            c
            for target in lexicon.MEASURE_SYNONYMS.get(word, ())
            for c in columns
            if c.role == "measure" and (target in c.words or lemma(c.name) == target)
        ]

    def _partial_column(
        self, span: list[Token], i: int, columns: list[Column], only_table: str | None
    ) -> Mention | None:
        """Words inside a column name: "delay" -> dep_delay_min, "departure delay" -> dep_delay_min."""
        if any(t.low in lexicon.STOPWORDS or t.low in lexicon.FILLER for t in span):
            return None
        hits = [
            c
            for c in columns
            if all(any(word_matches(t.lemma, w) for w in c.words if w not in _GENERIC_WORDS) for t in span)
        ]
        if not hits:
            return None
        score = 0.8 + 0.1 * (len(span) - 1)
        return Mention(
            "column", i, i + len(span), score, hits[0].table, _rank(hits, only_table), via_synonym=True
        )

    def _table(self, span: list[Token], i: int) -> Mention | None:
        if len(span) != 1:
            return None
        word = span[0].lemma
        table = self.nouns.get(word) or self._synonym_table(word)
        if table is None and word.endswith("ed"):  # "ordered" -> orders
            table = self.nouns.get(word[:-2]) or self.nouns.get(word[:-1])
        return Mention("table", i, i + 1, 0.95, table) if table else None

    def _synonym_table(self, word: str) -> str | None:
        return next((self.nouns[t] for t in lexicon.NAME_SYNONYMS.get(word, ()) if t in self.nouns), None)

    def _flag(self, span: list[Token], i: int) -> Mention | None:
        """Boolean columns by their adjective: "active" -> is_active, "inactive" -> NOT is_active."""
        if len(span) != 1:
            return None
        word = span[0].low
        for column in (c for c in self.graph.columns() if c.role == "boolean"):
            words = [w for w in column.words if w not in _FLAG_PREFIXES]
            adjective = " ".join(words)
            if word in (adjective, f"{adjective}ly"):  # "remote", "remotely"
                return Mention("flag", i, i + 1, 1.05, column.table, [column])
            if word in (f"in{adjective}", f"un{adjective}", f"non{adjective}"):
                return Mention("flag", i, i + 1, 1.0, column.table, [column], negated=True)
        return None


_GENERIC_WORDS = {
    "id",
    "key",
    "code",
    "no",
    "num",
    "date",
    "ts",
    "at",
    "on",
    "is",
    "has",
    "min",
    "max",
    "avg",
    "sum",
    "count",
    "km",
    "kg",
    "usd",
    "eur",
    "pct",
    "cents",
    "flag",
    "value",
    "amount",
}


def word_matches(word: str, column_word: str) -> bool:
    """Equal, or one abbreviates the other ("dep" ~ "departure", "qty" is handled by synonyms)."""
    if word == column_word:
        return True
    shorter, longer = sorted((word, column_word), key=len)
    return len(shorter) >= 3 and len(longer) >= 5 and longer.startswith(shorter)


def _rank(columns: list[Column], only_table: str | None) -> list[Column]:
    return sorted(columns, key=lambda c: c.table != only_table)


def _unique_columns(graph: SchemaGraph, values: list[IndexedValue]) -> list[Column]:
    seen: list[Column] = []
    for value in values:
        column = graph.tables[value.table].column(value.column)
        if column and column not in seen:
            seen.append(column)
    return seen
