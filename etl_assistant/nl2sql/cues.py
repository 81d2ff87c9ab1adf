"""Cue words of a question: aggregates ("how many", "average"), comparisons ("over 100", "between 5 and 9"),
top-N ("top 5", "3 cheapest"), superlatives, negations and grouping words ("by", "per")."""

from __future__ import annotations

from dataclasses import dataclass, field

from etl_assistant.nl2sql import lexicon
from etl_assistant.nl2sql.linker import Mention
from etl_assistant.nl2sql.text import NUMBER_WORDS, Token, number_value


@dataclass
class Comparison:
    """ "over 500": the operator and number(s); the parser later finds what is compared (`target`) on the
    "left" ("quantity at least 5"), the "right" ("more than 300 orders"), or as "having" (an aggregate)."""

    op: str
    values: list[float]
    start: int
    end: int
    target: Mention | None = None
    target_side: str = ""
    unit: tuple[str, ...] = ()  # column words of the unit after the number ("60 minutes")


@dataclass
class Cues:
    """Positions are token indexes."""

    aggregates: list[tuple[int, str]] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    superlatives: list[tuple[int, str, str]] = field(default_factory=list)  # (pos, direction, word)
    negations: list[int] = field(default_factory=list)
    group_markers: list[int] = field(default_factory=list)
    limit: int | None = None
    limit_direction: str | None = None
    ranked: bool = False


def scan_cues(tokens: list[Token]) -> Cues:
    """Aggregates, comparisons, top-N, superlatives, negations and grouping words, left to right; the
    tokens they use are marked so linking does not read them again."""
    cues = Cues()
    i = 0
    while i < len(tokens):
        if tokens[i].used:
            i += 1
            continue
        step = (
            _ranked(tokens, i, cues)
            or _comparison(tokens, i, cues)
            or _top_n(tokens, i, cues)
            or _phrase(tokens, i, cues)
        )
        i += step or 1
    return cues


def _ranked(tokens: list[Token], i: int, cues: Cues) -> int:
    pair = tuple(t.low for t in tokens[i : i + 2])
    if pair in lexicon.RANKED:
        cues.ranked = True
        _use(tokens[i : i + 2])
        return 2
    return 0


def _comparison(tokens: list[Token], i: int, cues: Cues) -> int:
    if tokens[i].low == "between":
        nums = [number_value(t.low) for t in tokens[i + 1 : i + 4]]
        if len(nums) == 3 and nums[0] is not None and tokens[i + 2].low == "and" and nums[2] is not None:
            unit = _unit(tokens, i + 4)
            cues.comparisons.append(Comparison("between", [nums[0], nums[2]], i, i + 4, unit=unit))
            _use(tokens[i : i + 4 + bool(unit)])
            return 4 + bool(unit)
        return 0
    for length in (3, 2, 1):
        phrase = tuple(t.low for t in tokens[i : i + length])
        op = lexicon.COMPARISONS.get(phrase)
        if op is None or len(phrase) < length:
            continue
        j = i + length
        value = number_value(tokens[j].low) if j < len(tokens) else None
        if value is None:
            continue
        unit = _unit(tokens, j + 1)
        cues.comparisons.append(Comparison(op, [value], i, j + 1, unit=unit))
        _use(tokens[i : j + 1 + bool(unit)])
        return j + 1 + bool(unit) - i
    value = number_value(tokens[i].low)
    if value is not None and tuple(t.low for t in tokens[i + 1 : i + 3]) in (("or", "more"), ("or", "less")):
        op = "ge" if tokens[i + 2].low == "more" else "le"
        cues.comparisons.append(Comparison(op, [value], i, i + 3))
        _use(tokens[i : i + 3])
        return 3
    return 0


def _unit(tokens: list[Token], j: int) -> tuple[str, ...]:
    """The column words of a unit word at `j` ("minutes" -> minute/minutes/min/mins), or ()."""
    return lexicon.UNITS.get(tokens[j].low, ()) if j < len(tokens) and not tokens[j].used else ()


def _top_n(tokens: list[Token], i: int, cues: Cues) -> int:
    word = tokens[i].low
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    count = (int(nxt.low) if nxt.low.isdigit() else NUMBER_WORDS.get(nxt.low)) if nxt is not None else None
    if word in ("top", "bottom", "first", "last") and nxt is not None and count is not None:
        cues.limit, cues.limit_direction = count, "asc" if word == "bottom" else "desc"
        cues.superlatives.append((i, cues.limit_direction, word))
        _use([tokens[i], nxt])
        return 2
    if (
        word.isdigit()
        and nxt is not None
        and not nxt.used
        and (nxt.low in lexicon.SUPERLATIVES or nxt.low in ("most", "least"))
    ):
        cues.limit = int(word)
        tokens[i].used = True
        return 1
    return 0


def _phrase(tokens: list[Token], i: int, cues: Cues) -> int:
    for length in (2, 1):
        phrase = tuple(t.low for t in tokens[i : i + length])
        if len(phrase) == length and phrase not in lexicon.AGGREGATES:
            phrase = tuple(t.lemma for t in tokens[i : i + length])  # "order counts"
        if len(phrase) == length and phrase in lexicon.AGGREGATES:
            cues.aggregates.append((i, lexicon.AGGREGATES[phrase]))
            _use(tokens[i : i + length])
            return length
    token = tokens[i]
    if token.low in lexicon.SUPERLATIVES:
        cues.superlatives.append((i, lexicon.SUPERLATIVES[token.low], token.low))
        token.used = True
        if cues.limit is not None and cues.limit_direction is None:
            cues.limit_direction = lexicon.SUPERLATIVES[token.low]
    elif token.low in lexicon.ORDER_DIRECTIONS:
        cues.ranked = True
        token.used = True
    elif token.low in lexicon.NEGATIONS:
        cues.negations.append(i)
        token.used = True
    elif token.low in ("by", "per", "each", "across"):
        cues.group_markers.append(i)
    return 1


def _use(tokens: list[Token]) -> None:
    for token in tokens:
        token.used = True
