"""The semantic parser: a question (and optionally the previous turn's parse) -> `QueryParse`.

It reads cues (aggregates, comparisons, top-N, superlatives, negations, time) and schema links (tables,
columns, values, flags), then decides what is measured, over which table, grouped and filtered how. When
the question names something the schema does not have, or could mean two columns, it returns a
clarifying question instead of a guess.
"""

from __future__ import annotations

import re
from datetime import date

from etl_assistant.nl2sql import lexicon
from etl_assistant.nl2sql.cues import Comparison, Cues, scan_cues
from etl_assistant.nl2sql.followup import is_follow_up, merge
from etl_assistant.nl2sql.linker import Linker, Mention, word_matches
from etl_assistant.nl2sql.model import ColumnRef, Dimension, Filter, Having, Measure, QueryParse, TimeRange
from etl_assistant.nl2sql.schema_graph import CODE_WORDS, Column, Edge, SchemaGraph, Table
from etl_assistant.nl2sql.text import NUMBER_WORDS, Token, lemma, tokenize, words_of
from etl_assistant.nl2sql.timerange import TimeSpec, extract_time
from etl_assistant.nl2sql.value_probe import ValueProbe
from etl_assistant.nl2sql.values import IndexedValue

HIGH_CONFIDENCE = 0.8
_COUNTING = {"most", "least", "fewest"}  # superlatives of a count: "the most orders"
_ADJECTIVE_STEMS = {
    "tallest": "tall",
    "heaviest": "heavy",
    "lightest": "light",
    "hottest": "hot",
    "warmest": "hot",
    "coldest": "cold",
    "windiest": "windy",
    "rainiest": "rainy",
    "wettest": "rainy",
    "biggest": "big",
    "largest": "large",
    "smallest": "small",
    "cheapest": "cheap",
    "priciest": "pricey",
}
_MONEY_WORDS = lexicon.MEASURE_SYNONYMS["revenue"]
_GROUPING_WORDS = {"vs", "versus", "each", "every", "per", "by"}


def _ref(column: Column) -> ColumnRef:
    return ColumnRef(table=column.table, column=column.name)


class Parser:
    def __init__(self, graph: SchemaGraph, values: list[IndexedValue]) -> None:
        self.graph = graph
        self.linker = Linker(graph, values)
        self.probe: ValueProbe | None = None  # unlinked words looked up in large text columns

    # --- entry ------------------------------------------------------------------------------------------

    def read(self, question: str, today: date) -> tuple[list[Token], TimeSpec, Cues, list[Mention], int]:
        """The lexical reading: tokens, time phrase, cues, schema mentions and how many typos were fixed."""
        tokens = tokenize(question)
        time = extract_time(question.replace("’", "'"), today)
        for token in tokens:
            if any(a <= token.start < b for a, b in time.spans):
                token.used = True
        probed = self._probe(question, tokens)  # before typo correction reads "Ohare" as "share"
        corrected = self.linker.spell_correct(tokens)
        cues = scan_cues(tokens)
        mentions = sorted(self.linker.link(tokens) + probed, key=lambda m: m.start)
        return tokens, time, cues, mentions, corrected

    def _probe(self, question: str, tokens: list[Token]) -> list[Mention]:
        """Values of large text columns for words the schema's vocabulary does not know (value_probe)."""
        if self.probe is None:
            return []
        lemmas = {t.lemma for t in tokens}
        known = self.linker.vocabulary
        indexed = [  # spans the value index holds whole ("New York Yankees"): the linker's, not the probe's
            range(i, i + n)
            for n in (4, 3, 2, 1)
            for i in range(len(tokens) - n + 1)
            if tuple(t.lemma for t in tokens[i : i + n]) in self.linker.value_keys
        ]
        return self.probe.mentions(question, tokens, known, lambda c: self._named(c, lemmas), indexed)

    def _named(self, column: Column, lemmas: set[str]) -> bool:
        """Whether the question's words name `column` or its table ("the airport", "birth city")."""
        words = {w for w in column.words if w not in ("name", "title")}
        return self.graph.tables[column.table].noun in lemmas or bool(words & lemmas)

    def parse(self, question: str, today: date, previous: QueryParse | None = None) -> QueryParse:
        """`today` anchors relative time ("last month"); `previous` is the last turn's parse, if any."""
        tokens, time, cues, mentions, corrected = self.read(question, today)
        by_meaning = self.linker.link_by_meaning(tokens, unknown_tokens(tokens))
        mentions = sorted(mentions + by_meaning, key=lambda m: m.start)
        interpretation = _Interpretation(self, question, tokens, cues, mentions, time, previous)
        result = interpretation.build()
        if by_meaning and not result.clarify:
            result.confidence *= 0.6
            links = ", ".join(f"'{tokens[m.start].text}' to {m.table}.{m.column.name}" for m in by_meaning)
            result.notes.append(f"linked {links} by meaning only")
        if corrected:
            result.confidence *= 0.9**corrected
            result.notes.append(f"read {corrected} misspelt word(s) as their closest schema word")
        if previous is not None and is_follow_up(question, result, interpretation.inherited):
            return merge(previous, result, self, interpretation.inherited)
        return result


class _Interpretation:
    """Turns cues and mentions into one QueryParse (a helper object so each decision is its own method)."""

    def __init__(
        self,
        parser: Parser,
        question: str,
        tokens: list[Token],
        cues: Cues,
        mentions: list[Mention],
        time: TimeSpec,
        previous: QueryParse | None,
    ) -> None:
        self.parser, self.graph = parser, parser.graph
        self.question, self.tokens, self.cues, self.mentions, self.time = (
            question,
            tokens,
            cues,
            mentions,
            time,
        )
        self.previous = previous
        self.inherited = False  # the measure came from the previous turn, not from this question
        self.out = QueryParse(question=question)
        self.consumed: set[int] = set()  # ids of mentions already given a role
        self.time_hint: Column | None = None  # a date column the question named ("signed up in 2022")
        self.used_negations: set[int] = set()  # negation words some filter took up
        self.role_of: dict[int, str] = {}  # mention id -> the role word that qualifies it ("dropoff")
        self.role_words: set[int] = set()  # ids of mentions read as such role words
        self.unrelated: set[str] = set()  # tables the question groups by that the base cannot join

    # --- orchestration ----------------------------------------------------------------------------------

    def build(self) -> QueryParse:
        unknown = unknown_tokens(self.tokens)
        connectors = [t.text for t in unknown if self._connector(t)]
        blocking = [t.text for t in unknown if t.text not in connectors]
        if blocking:
            return self._clarify(f"I don't have {_quote(blocking)}; I have {self._inventory()}.", 0.0)
        if connectors:
            self.out.confidence *= 0.9 ** len(connectors)
            self.out.notes.append(f"read {', '.join(connectors)} as joining words only")
        if (
            not self.mentions
            and not self.cues.aggregates
            and not self.time.has_range
            and self.previous is None
        ):
            return self._clarify(
                f"I could not match that question to your data; I have {self._inventory()}.", 0
            )
        self._entity_keys()
        self._prefer_named_tables()
        self._absorb_role_words()
        self._absorb_redundant_columns()
        self._resolve_comparison_targets()
        if not self._measure():
            return self.out
        if not self._dimensions():
            return self.out
        self._filters()
        self._missing_value_filters()
        self._comparisons_to_filters()
        self._time()
        self._order()
        self._share()
        self._check_columns_reachable()
        self._doubt_unused_words()
        return self.out

    def _doubt_unused_words(self) -> None:
        """Words the query does not use mean the question said more than the answer covers ("the cheapest
        product in each category", "customers who never ordered"): keep answering, but not confidently."""
        measure = self.out.measure
        if measure is not None and measure.ref is not None and measure.ref.table != self.out.base:
            if measure.agg in ("sum", "avg"):  # invoice.total summed once per invoice_line row
                self.out.confidence *= 0.5
                self.out.notes.append(f"{measure.ref.label} repeats for every {self.out.base} row it joins")
        if self.time.year_guessed and self.time.has_range:
            self.out.confidence *= 0.75  # "in January" of which year? the latest one so far
            self.out.notes.append(f"read '{self.time.label}' as the latest one so far")
        grouped = self.out.dimensions or (self.out.measure is not None and self.out.measure.agg == "ratio")
        if self.cues.group_markers and not grouped:
            self.out.confidence *= 0.5  # "the highest price of each stock" answered with one row
            self.out.notes.append("the question groups ('each', 'by', 'per') but the answer does not")
        unused = [
            self.tokens[m.start].text
            for m in self.mentions
            if m.kind == "column" and id(m) not in self.consumed and id(m) not in self._comparison_columns()
        ]
        unused += [self.tokens[pos].text for pos in self.cues.negations if pos not in self.used_negations]
        measure = self.out.measure
        if measure is not None and measure.agg == "count":
            unused += [
                w for _p, _d, w in self.cues.superlatives if _ADJECTIVE_STEMS.get(w) or w == "expensive"
            ]
        if unused and not self.out.clarify:
            self.out.confidence *= 0.5
            self.out.notes.append(f"not used in the query: {', '.join(unused)}")

    def _missing_value_filters(self) -> None:
        """ "orders with no discount", "without email": a negated column means its value is missing."""
        for mention in self.mentions:
            if mention.kind != "column" or id(mention) in self.consumed or mention.column.role == "time":
                continue
            negation = next((pos for pos in self.cues.negations if 0 < mention.start - pos <= 2), None)
            if negation is None or self.tokens[negation].low not in ("no", "without"):
                continue
            column = self._prefer(mention.columns)
            if column is not None and column.table in {
                self.out.base,
                *self.graph.reachable(self.out.base or ""),
            }:
                self.out.filters.append(Filter(ref=_ref(column), op="is_null"))
                self.consumed.add(id(mention))
                self.used_negations.add(negation)

    def _clarify(self, text: str, confidence: float) -> QueryParse:
        self.out.clarify = text
        self.out.confidence = confidence
        return self.out

    def _inventory(self) -> str:
        parts = []
        for table in self.graph.tables.values():
            shown = [c.name for c in table.columns if c.role != "key"][:8]
            parts.append(f"{table.name} ({', '.join(shown)})")
        return "; ".join(parts) if parts else "no tables yet (load a file first)"

    def _connector(self, token: Token) -> bool:
        """An unknown word that only joins linked parts: a verb before a preposition and a stored value
        ("handled by Acme Freight", "located in Austin"), a verb between a named table and a value ("airlines
        serving JFK"), or the closing verb of a do-question ("how many books did Mei Tanaka write")."""
        i = self.tokens.index(token)
        after = self._skip(i + 1, 1)
        value_after = (mention := self._mention_at(after)) is not None and mention.kind in ("value", "flag")
        if value_after and (after > i + 1 or self._mention_before(i, "table", "column")):
            return True
        if i + 1 < len(self.tokens) and self._in_time_phrase(self.tokens[i + 1]) and self._dated_subject():
            return True  # "patients born after 1980": the range says the condition
        rest = [t for t in self.tokens[i + 1 :] if t.low not in lexicon.STOPWORDS]
        asks_do = any(t.low in ("did", "does", "do", "has", "have", "had") for t in self.tokens[:i])
        each = any(t.low in ("each", "every") for t in self.tokens[:i])
        subject = self._mention_before(i, "value") or (each and self._mention_before(i, "table"))
        return asks_do and not rest and subject  # "did Queen record", not "what do the penguins eat"

    def _in_time_phrase(self, token: Token) -> bool:
        return any(a <= token.start < b for a, b in self.time.spans) and self.time.has_range

    def _dated_subject(self) -> bool:
        """Some named table keeps a date or a year the time range can apply to."""
        named = [self.graph.tables[m.table] for m in self.mentions if m.kind == "table"]
        return any(t.time_column is not None or t.year_column is not None for t in named)

    def _mention_before(self, index: int, *kinds: str) -> bool:
        return any(m.end <= index and m.kind in kinds for m in self.mentions)

    def _absorb_redundant_columns(self) -> None:
        """ "the mobile channel": the column word beside its own value adds nothing; a date column named
        without "by"/"per" chooses the time column for the range instead of grouping."""
        for mention in self.mentions:
            if mention.kind != "column":
                continue
            neighbours = [
                m
                for m in self.mentions
                if m.kind == "value"
                and m.end in (mention.start, mention.start - 1)
                or m.kind == "value"
                and m.start in (mention.end, mention.end + 1)
            ]
            if any(n.column in mention.columns for n in neighbours):
                self.consumed.add(id(mention))
            elif mention.column.role == "time" and not self._after_group_marker(mention):
                self.time_hint = mention.column
                self.consumed.add(id(mention))
            elif (
                self.time.has_range
                and mention.column == self.graph.tables[mention.column.table].year_column
                and not self._after_group_marker(mention)
            ):
                self.consumed.add(id(mention))  # "published after 2015": the year the range applies to

    # --- comparisons ------------------------------------------------------------------------------------

    def _mention_at(self, index: int) -> Mention | None:
        return next((m for m in self.mentions if m.start <= index < m.end), None)

    def _skip(self, index: int, direction: int) -> int:
        """The next token index (in `direction`) that is not a grammar word."""
        while (
            0 <= index < len(self.tokens)
            and self.tokens[index].low in lexicon.STOPWORDS
            and self._mention_at(index) is None
        ):
            index += direction
        return index

    def _resolve_comparison_targets(self) -> None:
        for comparison in self.cues.comparisons:
            right = self._mention_at(self._skip(comparison.end + bool(comparison.unit), 1))
            left = self._mention_at(self._skip(comparison.start - 1, -1))
            if comparison.unit and self._unit_target(comparison, left):
                continue
            if comparison.unit:
                self.out.confidence *= 0.5  # "shorter than 2 minutes" and no column says minutes
                self.out.notes.append(f"no column carries the unit after {comparison.values[0]:g}")
            if right is not None and right.kind in ("table", "column") and _numeric(right):
                comparison.target, comparison.target_side = right, "right"
            elif left is not None and left.kind in ("table", "column") and _numeric(left):
                comparison.target, comparison.target_side = left, "left"
            elif right is not None and right.kind in ("table", "column"):
                comparison.target, comparison.target_side = right, "right"

    def _unit_target(self, comparison: Comparison, left: Mention | None) -> bool:
        """ "a delay of more than 60 minutes", "trips longer than 10 miles": the unit picks the measure that
        carries it, among the columns the words before name, else among the named tables' measures."""

        def carries(column: Column) -> bool:
            return column.role == "measure" and any(w in comparison.unit for w in column.words)

        if left is not None and left.kind == "column" and _numeric(left):
            if any(carries(c) for c in left.columns):
                left.columns.sort(key=lambda c: not carries(c))
            elif any(carries(c) for c in self.graph.tables[left.table].columns):
                self.out.confidence *= 0.6  # "a delay of more than 60 miles": the unit belongs elsewhere
                number = f"{comparison.values[0]:g}"
                self.out.notes.append(f"the unit after {number} does not fit {left.column.name}")
            comparison.target, comparison.target_side = left, "left"
            return True
        named = {m.table for m in self.mentions if m.kind == "table"} or set(self.graph.tables)
        pool = [c for c in self.graph.columns() if c.table in named and carries(c)]
        if len(pool) != 1:
            return False
        column = pool[0]
        at = comparison.start
        comparison.target = Mention("column", at, at, 0.9, column.table, [column], via_synonym=True)
        comparison.target_side = "left"
        return True

    # --- measure ----------------------------------------------------------------------------------------

    def _first_agg(self, *kinds: str) -> tuple[int, str] | None:
        return next(((pos, agg) for pos, agg in self.cues.aggregates if agg in kinds), None)

    def _comparison_columns(self) -> set[int]:
        return {
            id(c.target) for c in self.cues.comparisons if c.target is not None and c.target.kind == "column"
        }

    def _measure_mentions(self) -> list[Mention]:
        targets = self._comparison_columns()
        return [
            m
            for m in self.mentions
            if m.kind == "column"
            and id(m) not in targets | self.role_words
            and any(c.role == "measure" for c in m.columns)
        ]

    def _ratio(self) -> bool:
        """ "average fare per mile", "ratio of fare to distance": SUM of one measure over SUM of another
        (never the average of per-row ratios). The denominator is a measure column or the unit it carries."""
        measures = self._measure_mentions()
        for i, token in enumerate(self.tokens):
            if token.low == "per":
                after = self._skip(i + 1, 1)
                numerators = [m for m in measures if m.end <= i]
            elif token.low == "ratio":
                after = -1
                numerators = [m for m in measures if m.start > i][:1]
            else:
                continue
            if not numerators:
                continue
            numerator = numerators[-1]
            rest = [m for m in measures if m.start > numerator.start and m is not numerator]
            denominator = self._mention_at(after) if after >= 0 else (rest[0] if rest else None)
            column = self._per_column(denominator, after, numerator)
            if column is None:
                continue
            top = self._pick_measure_column(numerator)
            if top is None or column.table not in {top.table, *self.graph.reachable(top.table)}:
                continue
            self.out.base = top.table
            self.out.measure = Measure(agg="ratio", ref=_ref(top), per=_ref(column))
            self.consumed.update({id(numerator)} | ({id(denominator)} if denominator else set()))
            return True
        return False

    def _per_column(self, mention: Mention | None, index: int, numerator: Mention) -> Column | None:
        if mention is not None and mention.kind == "column" and mention is not numerator:
            measures = [c for c in mention.columns if c.role == "measure"]
            return measures[0] if measures else None
        unit = lexicon.UNITS.get(self.tokens[index].low, ()) if 0 <= index < len(self.tokens) else ()
        table = numerator.table
        carriers = [
            c for c in self.graph.tables[table].by_role("measure") if unit and any(w in unit for w in c.words)
        ]
        return carriers[0] if len(carriers) == 1 else None

    def _measure(self) -> bool:
        if self._ratio():
            return True
        distinct = self._first_agg("count_distinct")
        count = self._first_agg("count")
        other = self._first_agg("sum", "avg", "min", "max", "median")
        share = self._first_agg("share")
        measures = self._measure_mentions()
        if distinct:
            return self._distinct_measure(distinct[0])
        if other:
            pos, agg = other
            after = [m for m in measures if m.start > pos] or measures
            if after:
                return self._set_measure(agg, after[0])
            return self._ask_which_measure(agg)
        if count or (share and not measures):
            return self._count_measure(count[0] if count else share[0], "share" if share else "count")
        listing = self._listing_measure(measures)
        if listing is not None:
            return self._listing_or_extreme(listing)
        if measures:
            return self._set_measure("share" if share else "sum", measures[0])
        tables = [m for m in self.mentions if m.kind == "table"]
        codes = [
            m
            for m in self._group_mentions()
            if m.column.role == "key" and _plural(self.tokens[m.end - 1]) and not self._after_group_marker(m)
        ]
        if codes and not tables:  # "flight numbers by carrier": identifiers are counted, never summed
            column = self._prefer(codes[0].columns)
            self.consumed.add(id(codes[0]))
            self.out.base, self.out.measure = column.table, Measure(agg="count_distinct", ref=_ref(column))
            return True
        if tables or (self._group_mentions() and self.cues.superlatives):
            return self._count_measure(-1, "count")
        if self._having_target_only():
            return True
        if self.previous is not None:
            return self._inherit_measure()
        if any(len({c.table for c in m.columns}) > 1 for m in self._group_mentions()):
            return self._ask_which_table()
        if self.cues.superlatives or self.cues.limit:
            return self._ask_which_measure("rank")
        return self._ask_which_measure("count")

    def _inherit_measure(self) -> bool:
        """A follow-up that names no measure keeps the previous one ("and last year?")."""
        assert self.previous is not None
        self.inherited = True
        self.out.base, self.out.measure = self.previous.base, self.previous.measure
        self.out.columns, self.out.order_by = list(self.previous.columns), self.previous.order_by
        return self.out.base is not None

    def _listing_measure(self, measures: list[Mention]) -> tuple[Column, str] | None:
        """ "5 most expensive products", "the 10 biggest orders": rows ranked by a measure, not aggregated."""
        if not self.cues.superlatives or self._group_mentions():
            return None
        named = {m.table for m in self.mentions if m.kind == "table"}
        adjective = self._adjective_measure() if not measures else None
        if adjective is not None and named <= {adjective[0].table} and (self.cues.limit or named):
            return adjective
        if measures and (self.cues.limit or named == {measures[0].table}) and named <= {measures[0].table}:
            direction = self.cues.limit_direction or self.cues.superlatives[0][1]
            self.consumed.add(id(measures[0]))
            column = self._pick_measure_column(measures[0])
            return (column, direction) if column is not None else None
        return None

    def _having_target_only(self) -> bool:
        """ "channels with revenue over 600000": the compared column is also what is measured; without
        a grouping ("products priced under 10") the rows that pass the comparison are counted."""
        if not self._group_mentions():
            targets = [c.target for c in self.cues.comparisons if c.target is not None]
            if not targets:
                return False
            self.out.base, self.out.measure = targets[0].table, Measure(agg="count")
            return True
        for comparison in self.cues.comparisons:
            target = comparison.target
            if target is not None and target.kind == "column" and target.column.role == "measure":
                comparison.target_side = "having"
                return self._set_measure("sum", target, consume=False)
        return False

    def _set_measure(self, agg: str, mention: Mention, consume: bool = True) -> bool:
        column = self._pick_measure_column(mention)
        if column is None:
            return False
        if agg == "share":
            self.out.measure = Measure(agg="share", ref=_ref(column), share_of="sum")
        else:
            self.out.measure = Measure(agg=agg, ref=_ref(column))
        self.out.base = column.table
        if mention.via_synonym:
            self.out.confidence *= 0.95
        if consume:
            self.consumed.add(id(mention))
        return True

    def _pick_measure_column(self, mention: Mention) -> Column | None:
        """The measure a mention means; two equally good candidates in one table -> ask which."""
        measures = [c for c in mention.columns if c.role == "measure"] or mention.columns
        candidates = self._relatable_first(measures, mention)
        first = candidates[0]
        rivals = [c for c in candidates[1:] if c.table == first.table]
        if rivals and mention.via_synonym and not self._explicit_column_word(first):
            names = [first.name, *(c.name for c in rivals)]
            self._clarify(f"Which one do you mean: {_or(names)}?", 0.3)
            return None
        return first

    def _relatable_first(self, candidates: list[Column], mention: Mention) -> list[Column]:
        """Candidates whose table joins every other table the question names come first (stable): once a
        datamart with a `revenue` column exists, "revenue by product category" must still measure orders,
        which reach products, not the datamart, which reaches nothing."""
        others = {m.table for m in self.mentions if m is not mention and m.table}
        if not others:
            return candidates

        def joins_all(column: Column) -> bool:
            return others <= set(self.graph.reachable(column.table)) | {column.table}

        return sorted(candidates, key=lambda column: not joins_all(column))

    def _explicit_column_word(self, column: Column) -> bool:
        words = {t.lemma for t in self.tokens}
        return set(column.words) <= words

    def _distinct_measure(self, pos: int) -> bool:
        after = [m for m in self.mentions if m.start > pos and m.kind in ("table", "column")]
        if not after:
            return self._ask_which_measure("count_distinct")
        target = after[0]
        self.consumed.add(id(target))
        if target.kind == "column":
            column = self._prefer(target.columns)
            self.out.measure = Measure(agg="count_distinct", ref=_ref(column))
            self.out.base = column.table
            return True
        return self._count_entity(self.graph.tables[target.table], distinct=True)

    def _count_measure(self, pos: int, agg: str) -> bool:
        tables = [m for m in self.mentions if m.kind == "table"]
        after = [m for m in tables if m.start > pos] or tables
        right_targets = {id(c.target) for c in self.cues.comparisons if c.target_side == "right"}
        entities = {id(m) for m in tables if self._entity_dimension(m)}
        subject = (
            next((m for m in after if id(m) not in right_targets | entities), None)
            or next((m for m in after if id(m) not in entities), None)
            or (after[0] if after else None)
        )
        if subject is None:
            named = next(
                (
                    m
                    for m in self.mentions
                    if m.start > pos and m.kind == "column" and m.column.role in ("category", "text")
                ),
                None,
            )
            explicit = pos >= 0 and not self.cues.superlatives  # "how many X", not "the most used X"
            if agg == "count" and explicit and named is not None and not self._after_group_marker(named):
                # "how many destinations": distinct values of the column, not rows
                column = self._prefer(named.columns)
                self.consumed.add(id(named))
                self.out.base, self.out.measure = (
                    column.table,
                    Measure(agg="count_distinct", ref=_ref(column)),
                )
                return True
            context = self._context_table()
            if context is None:
                return self._ask_which_table()
            self.out.base = context.name
            self.out.measure = Measure(agg=agg, share_of="count" if agg == "share" else None)
            return True
        self.consumed.add(id(subject))
        table = self.graph.tables[subject.table]
        if agg == "share":
            self.out.base, self.out.measure = table.name, Measure(agg="share", share_of="count")
            return True
        return self._count_entity(table, distinct=False)

    def _count_entity(self, table: Table, distinct: bool) -> bool:
        """Rows of `table`, or distinct references to it when the question's other words live in a table
        that points at it ("customers who ordered last month" counts distinct orders.customer_id)."""
        others = {
            m.table
            for m in self.mentions
            if m.kind in ("column", "value", "table", "flag") and id(m) not in self.consumed
        } - {table.name}
        referrers = [
            e
            for e in self.graph.edges
            if e.ref_table == table.name
            and (
                e.table in others
                or (self.time.has_range and table.time_column is None and table.year_column is None)
                or any(self._only_in(m, e.table) for m in self.mentions)
            )
        ]
        if referrers and (distinct or others or table.time_column is None):
            edge = referrers[0]
            self.out.base = edge.table
            self.out.measure = Measure(
                agg="count_distinct", ref=ColumnRef(table=edge.table, column=edge.column)
            )
            return True
        self.out.base = table.name
        if distinct and table.key is not None:
            self.out.measure = Measure(agg="count_distinct", ref=_ref(table.key))
        else:
            self.out.measure = Measure(agg="count")
        return True

    def _only_in(self, mention: Mention, table: str) -> bool:
        return (
            mention.kind in ("column", "value")
            and id(mention) not in self.consumed
            and all(c.table == table for c in mention.columns)
        )

    def _context_table(self) -> Table | None:
        """The table the other links point to, when the question names no table ("cancelled in 2024");
        None when two tables fit equally ("count by name": customers or products?)."""
        linked = [m for m in self.mentions if m.kind in ("column", "value", "flag")]
        if linked:
            common = set.intersection(*({c.table for c in m.columns} for m in linked))
            if len(common) == 1:
                return self.graph.tables[common.pop()]
            if len(common) > 1:
                return None
            tables = [m.table for m in linked]
            return self.graph.tables[max(set(tables), key=tables.count)]
        if len(self.graph.tables) == 1:  # "how many observations": the one table there is
            return next(iter(self.graph.tables.values()))
        facts = [t for t in self.graph.tables.values() if t.time_column is not None]
        return facts[0] if len(facts) == 1 else None

    def _adjective_measure(self) -> tuple[Column, str] | None:
        """ "most expensive" / "biggest" / "cheapest": the measure a ranking adjective names."""
        for _pos, direction, word in self.cues.superlatives:
            stem = _ADJECTIVE_STEMS.get(word)
            following = [t.low for t in self.tokens if t.low in lexicon.MEASURE_ADJECTIVES]
            key = stem or (following[0] if following else None)
            if key is None:
                continue
            target_word, adj_direction = lexicon.MEASURE_ADJECTIVES[key]
            column = self._measure_by_word(target_word)
            if column is not None:
                for t in self.tokens:
                    if t.low == key:
                        t.used = True
                return column, adj_direction if stem or word in ("most", "top") else direction
        return None

    def _measure_by_word(self, word: str) -> Column | None:
        tables = [self.graph.tables[m.table] for m in self.mentions if m.kind == "table"]
        pool = [c for t in tables for c in t.by_role("measure")] or [
            c for c in self.graph.columns() if c.role == "measure"
        ]
        for synonym in lexicon.MEASURE_SYNONYMS.get(word, (word,)):
            hits = [c for c in pool if synonym in c.words]
            if hits:
                return hits[0]
        return None

    def _listing_or_extreme(self, found: tuple[Column, str]) -> bool:
        column, direction = found
        table = self.graph.tables[column.table]
        plural_subject = any(
            m.kind == "table" and m.table == table.name and _plural(self.tokens[m.start])
            for m in self.mentions
        )
        # "the biggest orders" lists them; "the business with the highest rating" picks that row (with its
        # rating); only "the highest rating", naming no row, is a MAX.
        subjects = [m for m in self.mentions if m.kind == "table" and m.table == table.name]
        named_subject = bool(subjects)
        if self.cues.limit is None and subjects:
            self._numbered_entity(subjects[0])  # "the 3 businesses with the most reviews"
        if self.cues.limit or (plural_subject or named_subject) and not self._group_mentions():
            label = table.label or table.time_column  # "the 3 hottest days": which days
            self.out.base = table.name
            self.out.columns = [_ref(c) for c in (label, column) if c is not None]
            self.out.order_by, self.out.order = _ref(column), direction
            self.out.limit = self.cues.limit or (10 if plural_subject else 1)
            self.cues.superlatives.clear()
            self.cues.limit = None
            for m in self.mentions:
                if m.kind == "table" and m.table == table.name:
                    self.consumed.add(id(m))
            return True
        self.out.base = table.name
        self.out.measure = Measure(agg="max" if direction == "desc" else "min", ref=_ref(column))
        self.cues.superlatives.clear()
        return True

    def _ask_which_table(self) -> bool:
        linked = [m for m in self.mentions if m.kind == "column" and len({c.table for c in m.columns}) > 1]
        if linked:
            options = [f"{c.table}.{c.name}" for c in linked[0].columns]
            self._clarify(f"Which one do you mean: {_or(options)}?", 0.3)
        else:
            self._clarify(f"What should I count? I have {self._inventory()}.", 0.2)
        return False

    def _ask_which_measure(self, agg: str) -> bool:
        tables = {m.table for m in self.mentions} or set(self.graph.tables)
        options = [c.name for t in tables for c in self.graph.tables[t].by_role("measure")]
        if not options:
            self._clarify(f"What should I measure? I have {self._inventory()}.", 0.0)
            return False
        verb = {
            "sum": "total",
            "avg": "average",
            "min": "minimum",
            "max": "maximum",
            "median": "median",
            "rank": "ranking",
            "count_distinct": "count",
        }.get(agg, "measure")
        self._clarify(
            f"Which {verb} do you mean: {_or(sorted(set(options)))}"
            f"{' — or a count of rows' if agg == 'rank' else ''}?",
            0.2,
        )
        return False

    # --- dimensions -------------------------------------------------------------------------------------

    def _group_mentions(self) -> list[Mention]:
        return [
            m
            for m in self.mentions
            if m.kind == "column"
            and id(m) not in self.consumed
            and id(m) not in self._comparison_columns()
            and any(c.role in ("category", "text", "key", "boolean", "time") for c in m.columns)
            and not (m.start > 0 and self.tokens[m.start - 1].low in ("no", "without"))  # "no composer"
        ]

    def _dimensions(self) -> bool:
        base = self.out.base
        if base is None:
            return True
        for mention in self._group_mentions():
            if self.out.measure is None and not self._after_group_marker(mention):
                continue  # listing mode: a plain column word is shown, not grouped
            column = self._resolve(mention)
            if column is None:
                return False
            self.consumed.add(id(mention))
            bucket = None
            if column.role == "time":
                bucket = self.time.bucket or "day"
            routed = self._routed(column, mention)
            if routed is None:
                return False
            if not self._grouping_said(mention):
                self.out.confidence *= 0.6  # "the number of wins" grouped by div_win: nothing said "by"
                self.out.notes.append(f"grouped by {column.name} though no 'by'/'per'/'each' introduces it")
            reference = next(
                (e for e in self.graph.edges if e.table == column.table and e.column == column.name), None
            )
            if column.role == "key" and reference is not None and column.table == base:
                self._entity_columns(reference)  # "for each media type" (media_type_id): with its name
                continue
            self.out.dimensions.append(Dimension(ref=routed, bucket=bucket))
        for mention in self.mentions:
            if (
                mention.kind == "table"
                and mention.table != base
                and id(mention) not in self.consumed
                and self._entity_dimension(mention)
            ):
                edges = self.graph.edges_to(base, mention.table)
                if len(edges) > 1:
                    via = self._role_edge(edges, mention)
                    if via is None:
                        return False
                    edges = [e for e in edges if e.column == via]
                path = edges[:1] or self.graph.join_path(base, mention.table)
                if path:  # "by genre": the key it joins by, and the genre's name when it has one
                    self._entity_columns(path[-1])
                    self.consumed.add(id(mention))
                elif self._rebase_through_link(mention.table):  # "books for each author" (books-authors)
                    edge = self.graph.join_path(self.out.base or "", mention.table)[-1]
                    self.out.dimensions.append(Dimension(ref=ColumnRef(table=edge.table, column=edge.column)))
                    self.consumed.add(id(mention))
                    base = self.out.base
                else:
                    self.unrelated.add(mention.table)  # named as the grouping, but nothing joins it
        grouped = [m for m in self.mentions if m.kind == "column" and id(m) in self.consumed]
        if any(a.end == b.start for a in grouped for b in grouped if a is not b and a.column.role != "time"):
            self.out.confidence *= 0.6  # "by plane engine type": one grouping or two?
            self.out.notes.append("read two adjacent words as two groupings")
        unique: list[Dimension] = []
        for dimension in self.out.dimensions:  # "which origin airport": origin once, with the airport's name
            if dimension not in unique:
                unique.append(dimension)
        self.out.dimensions = unique
        base_table = self.graph.tables[self.out.base or base]
        part = base_table.part_column(self.time.bucket) if self.time.bucket else None
        grouped = {d.ref.column for d in self.out.dimensions}
        if part is not None and self.out.measure and part.name not in grouped:
            self.out.dimensions.append(Dimension(ref=_ref(part)))  # "by month" with a `month` column
        elif self.time.bucket and not any(d.bucket for d in self.out.dimensions) and self.out.measure:
            time_column = self._time_column()
            if time_column is not None:
                self.out.dimensions.append(Dimension(ref=_ref(time_column), bucket=self.time.bucket))
        return True

    def _grouping_said(self, mention: Mention) -> bool:
        """A grouping column introduced as one: "by region", "which city", "for each", "vs", a ranking."""
        near = self.tokens[max(0, mention.start - 3) : mention.start]
        return (
            self._after_group_marker(mention)
            or any(0 <= mention.start - pos <= 2 for pos in self._which_positions())
            or any(t.low in _GROUPING_WORDS for t in near)
            or any(t.low in ("vs", "versus") for t in self.tokens)
            or self.cues.ranked
            or any(  # "top 3 regions", "the biggest category"; not "the most wins" (that counts wins)
                0 < mention.start - pos <= 3 and word not in _COUNTING
                for pos, _d, word in self.cues.superlatives
            )
        )

    def _entity_columns(self, edge: Edge) -> None:
        """Group by the key that reaches the entity, plus its label ("name") so people see names; rows
        without the key belong to no entity ("top 10 planes": flights without a tail number are none)."""
        key = ColumnRef(table=edge.table, column=edge.column)
        self.out.dimensions.append(Dimension(ref=key))
        if edge.table == self.out.base:
            self.out.filters.append(Filter(ref=key, op="not_null"))
        label = self.graph.tables[edge.ref_table].label
        if label is not None and label.role != "key" and label.table == edge.ref_table:
            several = len(self.graph.edges_to(edge.table, edge.ref_table)) > 1 and edge.table == self.out.base
            via = edge.column if several else None  # the pickup zone's name, not the dropoff zone's
            named = ColumnRef(table=label.table, column=label.name, via=via)
            self.out.dimensions.append(Dimension(ref=named))

    def _after_group_marker(self, mention: Mention) -> bool:
        """ "by region", "per the customer"; not "by US carriers" (a value between: that is a filter)."""
        return any(
            0 < mention.start - pos <= 2
            and all(self._mention_at(k) is None for k in range(pos + 1, mention.start))
            for pos in self.cues.group_markers
        )

    def _entity_dimension(self, mention: Mention) -> bool:
        """A table named as what to group by: "by customer", "top 5 customers", "customers with > 300"."""
        if self._after_group_marker(mention):
            return True
        # "top 5 customers" ranks customers; "the most employees" counts employees.
        if any(
            0 <= mention.start - pos <= 2 for pos, _d, word in self.cues.superlatives if word not in _COUNTING
        ):
            return True
        if any(0 <= mention.start - pos <= 2 for pos in self._which_positions()):
            return True
        if self._numbered_entity(mention):
            return True
        if self.out.measure is not None and self.out.base != mention.table and any(
            0 < pos - mention.end <= 3 and word not in _COUNTING for pos, _d, word in self.cues.superlatives
        ):  # "the airline with the longest average distance" ranks airlines
            return True
        return any(
            c.target_side and 0 < c.start - mention.end <= 2 and self.tokens[mention.end].low == "with"
            for c in self.cues.comparisons
        )

    # --- roles: one table reached through several keys (pickup / dropoff zone) ----------------------------

    def _role_words(self, edge: Edge) -> set[str]:
        """ "pickup" of pickup_zone_id -> zones: the words of the key that are not the target's own."""
        target = self.graph.tables[edge.ref_table]
        own = {target.noun, *words_of(edge.ref_column), *CODE_WORDS}
        return {lemma(w) for w in words_of(edge.column)} - own

    def _entity_keys(self) -> None:
        """ "players" linked to player_id (in people, batting, salaries) names the entity whose key that is:
        the table the others reference by it. Read it as that table, so rows of people are counted."""
        for mention in self.mentions:
            if mention.kind != "column" or mention.qualified or not mention.columns:
                continue
            names = {c.name for c in mention.columns}
            if len(names) != 1 or any(c.role not in ("key", "text") for c in mention.columns):
                continue
            owners = {
                e.ref_table
                for e in self.graph.edges
                if e.ref_column in names
                and e.column in names
                and e.table in {c.table for c in mention.columns}
            }
            if len(owners) == 1:
                mention.kind, mention.table, mention.columns = "table", owners.pop(), []

    def _prefer_named_tables(self) -> None:
        """ "tracks that cost more than 1 dollar": of unit_price in track and in invoice_line, the one in
        the table the question names comes first."""
        named = {m.table for m in self.mentions if m.kind == "table"}
        for mention in self.mentions:
            if mention.kind in ("column", "value") and not mention.qualified and len(mention.columns) > 1:
                mention.columns.sort(key=lambda c: c.table not in named)
                mention.table = mention.columns[0].table

    def _absorb_role_words(self) -> None:
        """ "by dropoff borough", "the pickup zone": a role word right before a mention of a table that is
        reached through several keys qualifies that mention; it is not a column of its own."""
        for mention in self.mentions:
            following = next((m for m in self.mentions if m.start == mention.end), None)
            if mention.kind != "column" or len(mention.columns) < 1 or following is None:
                continue
            if mention.end - mention.start != 1 or not mention.via_synonym:
                continue
            word = self.tokens[mention.start].lemma
            edges = [e for e in self.graph.edges if e.ref_table == following.table]
            if len(edges) > 1 and any(self._roles_said(e, {word}) for e in edges):
                self.consumed.add(id(mention))
                self.role_words.add(id(mention))
                self.role_of[id(following)] = word

    def _roles_said(self, edge: Edge, words: set[str]) -> bool:
        """A role word of `edge` among `words`, also abbreviated ("destination" ~ dest)."""
        return any(word_matches(w, role) for w in words for role in self._role_words(edge))

    def _role_edge(self, edges: list[Edge], mention: Mention | None) -> str | None:
        """The key (edge column) a mention of the shared target goes through: its own role word ("dropoff
        zone"), the preposition before its value ("from Midtown" -> pickup), else the one role word the
        question uses (a guess: confidence drops); none -> ask which, and None."""
        said = self.role_of.get(id(mention)) if mention is not None else None
        if mention is not None and said is None and mention.kind == "value":
            hints = lexicon.DIRECTION_WORDS.get(self._word_before(mention.start), ())
            picked = [e for e in edges if self._roles_said(e, set(hints))]
            if len(picked) == 1:
                return picked[0].column
        if said is not None:
            picked = [e for e in edges if self._roles_said(e, {said})]
            if len(picked) == 1:
                return picked[0].column
        lemmas = {t.lemma for t in self.tokens if t.low not in lexicon.STOPWORDS}
        picked = [e for e in edges if self._roles_said(e, lemmas)]
        if len(picked) == 1:
            self.out.confidence *= 0.9
            self.out.notes.append(f"read {picked[0].column} from a role word elsewhere in the question")
            return picked[0].column
        plain = [e for e in edges if not self._role_words(e)]
        if len(plain) == 1 and not picked:  # doctor_id beside referring_doctor_id: the unqualified key
            self.out.confidence *= 0.9
            self.out.notes.append(
                f"joined through {plain[0].column}, not {_or([e.column for e in edges if e not in plain])}"
            )
            return plain[0].column
        self._clarify(f"Which one do you mean: {_or([e.column for e in edges])}?", 0.3)
        return None

    def _word_before(self, index: int) -> str:
        return self.tokens[index - 1].low if index > 0 else ""

    def _routed(self, column: Column, mention: Mention | None) -> ColumnRef | None:
        """The reference to `column` with its route from the base (None after asking which route)."""
        base = self.out.base
        if base is None or column.table == base:
            return _ref(column)
        edges = self.graph.edges_to(base, column.table)
        if len(edges) < 2:
            return _ref(column)
        via = self._role_edge(edges, mention)
        return None if via is None else ColumnRef(table=column.table, column=column.name, via=via)

    def _numbered_entity(self, mention: Mention) -> bool:
        """ "5 customers with the highest revenue": a count right before a plural table, with a superlative
        in the question, ranks that many of them."""
        if mention.start == 0 or not self.cues.superlatives or not _plural(self.tokens[mention.start]):
            return False
        number = self.tokens[mention.start - 1]
        count = NUMBER_WORDS.get(number.low) or (int(number.low) if number.low.isdigit() else None)
        if count is None or number.used:
            return False
        self.cues.limit = count
        return True

    def _which_positions(self) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if t.low in ("which", "what")]

    def _resolve(self, mention: Mention) -> Column | None:
        """The column a (possibly ambiguous) mention means, as seen from the base table."""
        if mention.qualified:
            return mention.column
        return self._prefer(mention.columns, ask=True)

    def _prefer(self, columns: list[Column], ask: bool = False) -> Column | None:
        base = self.out.base
        in_base = [c for c in columns if c.table == base]
        if in_base or not base:
            return (in_base or columns)[0]
        reachable = self.graph.reachable(base)
        joinable = [c for c in columns if c.table in reachable]
        if len({c.table for c in joinable}) > 1 and ask:
            self._clarify(f"Which one do you mean: {_or([f'{c.table}.{c.name}' for c in joinable])}?", 0.3)
            return None
        return (joinable or columns)[0]

    # --- filters ----------------------------------------------------------------------------------------

    def _negated(self, mention: Mention) -> bool:
        previous_mentions = [m.end for m in self.mentions if m.end <= mention.start and m.kind == "value"]
        floor = max(previous_mentions, default=-1)
        hits = [
            pos for pos in self.cues.negations if floor < pos < mention.start and mention.start - pos <= 3
        ]
        self.used_negations.update(hits)
        return bool(hits)

    def _labels_first(self, mention: Mention) -> list[Column]:
        """A value that is both a row's label (the artist named "Metallica") and an attribute elsewhere (a
        track's composer) names that row: the labels the base reaches come first."""
        if len(mention.columns) < 2 or mention.qualified or self.out.base is None:
            return mention.columns
        reach = {self.out.base, *self.graph.reachable(self.out.base)}
        labels = [c for c in mention.columns if c.table in reach and self.graph.tables[c.table].label == c]
        return labels or mention.columns

    def _filters(self) -> None:
        groups: dict[tuple[str, str, str | None], list[tuple[Mention, bool]]] = {}
        for mention in self.mentions:
            if mention.kind != "value" or id(mention) in self.consumed:
                continue
            column = self._prefer(self._labels_first(mention))
            if column is None:
                continue
            negated = self._negated(mention)
            if len({c.name for c in mention.columns}) > 1 and not mention.qualified:
                here = f"{column.table}.{column.name}"
                others = sorted({f"{c.table}.{c.name}" for c in mention.columns} - {here})
                self.out.confidence *= 0.7  # "Metallica": a composer, or the artist's name?
                self.out.notes.append(f"'{mention.value}' is also in {', '.join(others)}")
            routed = self._routed(column, mention)
            if routed is None:
                return
            key = (column.table, column.name, routed.via)
            if key in groups and groups[key][0][1] and not negated:
                negated = True  # "not cancelled or returned": the negation covers the list
            groups.setdefault(key, []).append((mention, negated))
            if mention.score < 1:
                self.out.confidence *= mention.score
        compare = any(t.low in ("vs", "versus") for t in self.tokens)  # "electronics vs books": side by side
        for (table, name, via), items in groups.items():
            values = list(dict.fromkeys(m.value for m, _n in items))
            ref = ColumnRef(table=table, column=name, via=via)
            if (
                compare
                and len(values) > 1
                and self.out.measure
                and all(d.ref != ref for d in self.out.dimensions)
            ):
                self.out.dimensions.append(Dimension(ref=ref))
            negated = items[0][1]
            if len(values) == 1:
                op = "ne" if negated else "eq"
            else:
                op = "not_in" if negated else "in"
            self.out.filters.append(Filter(ref=ref, op=op, values=values))
        for mention in self.mentions:
            if mention.kind == "flag":
                negated = mention.negated != self._negated(mention)
                self.out.filters.append(
                    Filter(ref=_ref(mention.column), op="is_false" if negated else "is_true")
                )

    def _comparisons_to_filters(self) -> None:
        for comparison in self.cues.comparisons:
            target = comparison.target
            measure = self.out.measure
            if comparison.target_side == "having" or (
                self.out.dimensions
                and target is not None
                and measure is not None
                and (
                    (target.kind == "table" and comparison.target_side == "right")
                    or (
                        target.kind == "column"
                        and measure.ref is not None
                        and target.column.name == measure.ref.column
                        and comparison.target_side == "left"
                    )
                )
            ):
                self.out.having = Having(
                    op=comparison.op if comparison.op != "between" else "ge", value=comparison.values[0]
                )
                continue
            column = self._comparison_column(target)
            if column is None:
                self._clarify(
                    f"Which number should be compared ({comparison.op} {comparison.values[0]:g})?", 0.3
                )
                return
            op = comparison.op
            self.out.filters.append(Filter(ref=_ref(column), op=op, values=comparison.values))

    def _comparison_column(self, target: Mention | None) -> Column | None:
        if target is not None and target.kind == "column":
            return self._prefer(target.columns)
        table = (
            self.graph.tables[target.table]
            if target is not None
            else (self.graph.tables.get(self.out.base or ""))
        )
        if table is None:
            return None
        if (
            self.out.measure
            and self.out.measure.ref
            and self.out.measure.ref.table == table.name
            and self.out.measure.agg not in ("count", "count_distinct")
        ):
            return table.column(self.out.measure.ref.column)
        money = [c for word in _MONEY_WORDS for c in table.by_role("measure") if word in c.words]
        return money[0] if money else None

    # --- time, order, share -----------------------------------------------------------------------------

    def _time_column(self) -> Column | None:
        base = self.graph.tables.get(self.out.base or "")
        if base is None:
            return None
        if self.time_hint is not None and self.time_hint.table in {
            base.name,
            *self.graph.reachable(base.name),
        }:
            return self.time_hint
        if base.time_column is not None:
            return base.time_column
        for name in self.graph.reachable(base.name):
            if self.graph.tables[name].time_column is not None:
                return self.graph.tables[name].time_column
        return None

    def _year_filters(self) -> bool:
        """ "published after 2015" on a table that keeps only a year number: whole years become a range on
        it; anything finer than a year cannot apply and is asked about instead."""
        base = self.graph.tables.get(self.out.base or "")
        column = base.year_column if base is not None else None
        start, end = self.time.start, self.time.end
        whole = all(d is None or (d.month, d.day) == (1, 1) for d in (start, end))
        if column is None or not whole or self.time.latest is not None:
            return False
        if start is not None:
            self.out.filters.append(Filter(ref=_ref(column), op="ge", values=[start.year]))
        if end is not None:
            self.out.filters.append(Filter(ref=_ref(column), op="lt", values=[end.year]))
        return True

    def _part_filters(self) -> bool:
        """A table that keeps its own calendar parts (`year`, `month` numbers beside a timestamp) is asked
        about in them: "in 2013" is year = 2013 and "last month" year and month, in the data's own calendar
        (a timestamp may be stored in another time zone)."""
        base = self.graph.tables.get(self.out.base or "")
        year = base.part_column("year") if base is not None else None
        start, end = self.time.start, self.time.end
        if year is None or start is None or end is None or self.time.latest is not None or self.time_hint:
            return False  # "debuted in the 1990s" names its own date column
        month = base.part_column("month")
        if (start.month, start.day, end.month, end.day) == (1, 1, 1, 1):
            self.out.filters.append(Filter(ref=_ref(year), op="ge", values=[start.year]))
            self.out.filters.append(Filter(ref=_ref(year), op="lt", values=[end.year]))
            return True
        months = (end.year * 12 + end.month) - (start.year * 12 + start.month)
        one_month = start.day == end.day == 1 and months == 1
        if month is None or not one_month:
            return False
        self.out.filters.append(Filter(ref=_ref(year), op="eq", values=[start.year]))
        self.out.filters.append(Filter(ref=_ref(month), op="eq", values=[start.month]))
        return True

    def _time(self) -> None:
        if not self.time.has_range:
            return
        if self._part_filters():
            return
        column = self._time_column()
        base = self.graph.tables.get(self.out.base or "")
        own = column is not None and base is not None and column.table == base.name
        if (column is None or not own) and self._year_filters():
            return  # "average salary in 2016": salaries' own year, not the player's debut
        if column is None:
            self._clarify(f"{self.out.base} has no date column to apply '{self.time.label}' to.", 0.2)
            return
        self.out.time = TimeRange(
            ref=_ref(column),
            start=self.time.start,
            end=self.time.end,
            latest=self.time.latest,
            label=self.time.label,
        )

    def _order(self) -> None:
        if self.out.columns and not self.inherited:
            return
        direction = self.cues.limit_direction or next((d for _p, d, _w in self.cues.superlatives), None)
        if self.cues.ranked and direction is None:
            direction = "asc" if re.search(r"\basc(?:ending)?\b", self.question.lower()) else "desc"
        if direction is None:
            return
        if self.inherited:  # "top 10 instead", "and the bottom 3?": the previous grouping stays
            self.out.order, self.out.limit = direction, self.cues.limit
            return
        if not self.out.dimensions:
            if (
                self.out.measure
                and self.out.measure.agg in ("sum", "count")
                and self.cues.superlatives
                and self.out.measure.ref is not None
            ):
                self.out.measure.agg = "max" if direction == "desc" else "min"
            elif (
                self.out.measure
                and self.out.measure.ref is None
                and self.cues.superlatives
                and not self.inherited
            ):
                self._ask_which_measure("rank")  # "longest flight": longest by what?
            return
        self.out.order = direction
        counted = self._number_before_dimension()
        self.out.limit = self.cues.limit or counted or (None if self.cues.ranked else 1)

    def _number_before_dimension(self) -> int | None:
        """ "the 3 carriers with the most flights": a count right before the grouped word."""
        for mention in self.mentions:
            if id(mention) not in self.consumed or mention.start == 0:
                continue
            number = self.tokens[mention.start - 1]
            if not number.used and (number.low.isdigit() or number.low in NUMBER_WORDS):
                return int(number.low) if number.low.isdigit() else NUMBER_WORDS[number.low]
        return None

    def _share(self) -> None:
        measure = self.out.measure
        if measure is None or measure.agg != "share" or self.out.dimensions:
            return
        self.out.share_condition, self.out.filters = self.out.filters, []
        if not self.out.share_condition:
            self._clarify("A share of what? Say which part, e.g. 'share of orders that were cancelled'.", 0.3)

    def _link_table(self, base: str, needed: set[str]) -> str | None:
        """A table that references `base` and reaches every table in `needed` (book_authors between books
        and authors); the only one, or None."""
        links = [
            e.table
            for e in self.graph.edges
            if e.ref_table == base
            and e.table not in needed
            and needed <= set(self.graph.reachable(e.table)) | {e.table}
        ]
        return links[0] if len(set(links)) == 1 else None

    def _rebase_through_link(self, *extra: str) -> bool:
        """Move the base onto the link table that joins it to the tables it cannot reach: a count of the
        base's rows becomes a count of distinct references to them (a book with two authors counts once per
        author only when grouped by author)."""
        base = self.out.base
        if base is None:
            return False
        needed = self.out.tables() | set(extra)
        link = self._link_table(base, needed)
        if link is None:
            return False
        edge = next(e for e in self.graph.edges if e.table == link and e.ref_table == base)
        measure = self.out.measure
        if measure is not None and measure.ref is None and measure.agg == "count":
            self.out.measure = Measure(agg="count_distinct", ref=ColumnRef(table=link, column=edge.column))
        self.out.base = link
        self.out.notes.append(f"joined {base} to {', '.join(sorted(needed - {base}))} through {link}")
        return True

    def _check_columns_reachable(self) -> None:
        if self.out.clarify or self.out.base is None:
            return
        reachable = set(self.graph.reachable(self.out.base)) | {self.out.base}
        if (self.out.tables() | self.unrelated) - reachable and self._rebase_through_link(*self.unrelated):
            self.unrelated.clear()
            reachable = set(self.graph.reachable(self.out.base)) | {self.out.base}
        named = {m.table for m in self.mentions if m.kind == "table" and m.table not in reachable}
        joined_to_base = {e.table for e in self.graph.edges if e.ref_table == self.out.base}
        self.unrelated |= named - joined_to_base  # "how much did the cars cost" read off stocks
        stray = sorted((self.out.tables() | self.unrelated) - reachable)
        if stray:
            self._clarify(
                f"I cannot relate {', '.join(stray)} to {self.out.base}: no relationship between them "
                "is known; ask about one table at a time.",
                0.2,
            )


def unknown_tokens(tokens: list[Token]) -> list[Token]:
    """Content words no cue, link or grammar list accounted for."""
    unknown = []
    for token in tokens:
        if token.used or not token.low[0].isalpha():
            continue
        word = token.low
        if word in lexicon.STOPWORDS or word in lexicon.FILLER or token.lemma in lexicon.FILLER:
            continue
        if word in lexicon.ADD_MARKERS | lexicon.REPLACE_MARKERS or len(word) <= 2:
            continue
        unknown.append(token)
    return unknown


def _plural(token: Token) -> bool:
    return token.low != token.lemma


def _numeric(mention: Mention) -> bool:
    return mention.kind == "table" or any(c.role == "measure" for c in mention.columns)


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _quote(words: list[str]) -> str:
    return "'" + " ".join(words) + "'"
