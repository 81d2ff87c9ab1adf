"""What a message names: file paths, SQL, a dialect, known datasets/tables, a target name, flags.

Pure text analysis (no model): the router and the argument filler both read the same `Entities`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

_EXT = r"(?:csv|tsv|txt|json|jsonl|ndjson|parquet|pq|xlsx|xls)(?:\.gz)?"
_QUOTED_PATH = re.compile(rf"[\"'“”‘’`]([^\"'“”‘’`\n]+\.{_EXT})[\"'“”‘’`]", re.IGNORECASE)
_BARE_PATH = re.compile(
    rf"(?:(?<=\s)|^|(?<=[(\[]))([A-Za-z]:\\[^\s\"'`]+?\.{_EXT}|[\w~./\\-][^\s\"'`,;()]*?\.{_EXT})"
    r"(?=$|[\s,;:!?)\]]|\.(?:\s|$))",
    re.IGNORECASE,
)

_DIALECT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("clickhouse", re.compile(r"\b(click\s*-?\s*house?|clickhous\w*|cli[ck]+house|ch|chdb|merge\s*tree)\b")),
    ("postgres", re.compile(r"\b(postgre\w*|postrgres|pg|psql|pgsql)\b")),
    ("sqlite", re.compile(r"\b(sq?l+ite3?|sqllite)\b")),
)
_DIALECT_WORDS = {
    "clickhouse": "clickhouse",
    "postgres": "postgres",
    "postgresql": "postgres",
    "sqlite": "sqlite",
}

_SQL_FENCE = re.compile(r"```(?:sql)?\s*(.+?)```", re.IGNORECASE | re.DOTALL)
_SQL_TICKS = re.compile(r"`([^`]+)`")
_SQL_START = re.compile(r"\b(select|with)\b", re.IGNORECASE)
# Free text may precede a statement only after one of these (so "select the best one" stays prose).
_SQL_LEAD = re.compile(r"(^|[:?.!\n]|\b(run|execute|exec|query|sql|this|the query)\b)\s*$", re.IGNORECASE)

_TARGET = re.compile(
    r"\b(?:into(?:\s+(?:a|the|new))?(?:\s+table)?(?:\s+(?:named|called))?|as|named|called"
    r"|call(?:ed)?\s+(?:it|the\s+table|the\s+dataset)|name(?:d)?(?:\s+(?:it|the\s+table|the\s+dataset))?"
    r"|table\s+name(?:\s+is)?|rename(?:\s+it)?\s+to|register(?:\s+it)?\s+as)\s+[`\"']?([A-Za-z_]\w*)",
    re.IGNORECASE,
)
_NOT_A_NAME = frozenset(
    "a an the it is its this that these those my our your one new same real well before table tables "
    "warehouse warehous db database datamart mart view file data clickhouse postgres postgresql sqlite pg ch "
    "to in for of "
    "and with per follows soon possible such fresh instead daily weekly monthly".split()
)
_REPLACE = re.compile(
    r"\b(replac\w*|overwrit\w*|re-?load\w*|re-?creat\w*|truncat\w*|from scratch|drop and)\b"
)
_LIMIT = re.compile(r"\b(?:first|top|last)?\s*(\d{1,6})\s+(?:rows|records|lines)\b")
_TABLE_MODE = re.compile(r"\b(warehouse table|existing table|the table|table)\b")
_WORD = re.compile(r"[a-z0-9_]+")
_ARTICLES = frozenset({"the", "a", "an", "my", "our", "this", "that"})
_EMOJI_WORDS = {"👍": " thumbs up "}  # a reaction is the whole message; the router embeds words


@dataclass
class Entities:
    text: str  # the message as written
    paths: list[str] = field(default_factory=list)
    sql: str | None = None
    dialect: str | None = None
    mentions: list[str] = field(default_factory=list)  # known dataset/table names, strongest first
    target: str | None = None  # a name the person gave: "into X", "called X", "as X"
    replace: bool = False
    limit: int | None = None
    table_mode: bool = False  # talks about a warehouse table rather than a file
    normalized: str = ""  # the text the router embeds (entities masked, dialects canonical)

    @property
    def content_words(self) -> int:
        """Words left after masking entities: few words + an entity = an answer, not a new request."""
        masked = re.sub(r"\b(the dataset|the file|this sql query)\b", " ", self.normalized)
        return len([w for w in _WORD.findall(masked) if w not in _FILLER])


_FILLER = frozenset("ok okay please pls the a an one yes yeah sure use in on for with and".split())


def extract(text: str, known_names: Iterable[str]) -> Entities:
    """Read the entities of one message; `known_names` are the tenant's and the thread's datasets/tables."""
    ents = Entities(text=text)
    rest = text
    ents.sql, rest = _find_sql(rest)
    ents.paths, rest = _find_paths(rest)
    lowered = rest.lower()
    ents.dialect = find_dialect(lowered)
    ents.mentions = _find_mentions(lowered, known_names)
    ents.target = _find_target(rest, ents.mentions)
    ents.replace = bool(_REPLACE.search(lowered))
    limit = _LIMIT.search(lowered)
    ents.limit = int(limit.group(1)) if limit else None
    ents.table_mode = not ents.paths and bool(_TABLE_MODE.search(lowered))
    ents.normalized = _normalize(text, ents)
    return ents


def find_dialect(lowered: str) -> str | None:
    for dialect, pattern in _DIALECT_PATTERNS:
        if pattern.search(lowered):
            return dialect
    for word in _WORD.findall(lowered):
        if len(word) >= 5:
            close = difflib.get_close_matches(word, list(_DIALECT_WORDS), n=1, cutoff=0.84)
            if close:
                return _DIALECT_WORDS[close[0]]
    return None


def _find_sql(text: str) -> tuple[str | None, str]:
    candidates: list[tuple[str, tuple[int, int]]] = []
    for match in _SQL_FENCE.finditer(text):
        candidates.append((match.group(1), match.span()))
    for match in _SQL_TICKS.finditer(text):
        candidates.append((match.group(1), match.span()))
    for match in _SQL_START.finditer(text):
        if _SQL_LEAD.search(text[: match.start()]):
            candidates.append((text[match.start() :], (match.start(), len(text))))
    for candidate, (start, end) in candidates:
        sql = candidate.strip().rstrip(";").strip()
        if _is_statement(sql):
            return sql, text[:start] + " this sql query " + text[end:]
    return None, text


def _is_statement(sql: str) -> bool:
    """A real query: parses, is not an opaque Command, and a SELECT reads FROM something or only literals."""
    try:
        parsed = sqlglot.parse(sql)
    except SqlglotError:
        return False
    if len(parsed) != 1 or parsed[0] is None or isinstance(parsed[0], exp.Command):
        return False
    tree = parsed[0]
    if isinstance(tree, exp.Select) and not tree.find(exp.From):
        return all(not projection.find(exp.Column) for projection in tree.expressions)
    return isinstance(tree, exp.Query)


def _find_paths(text: str) -> tuple[list[str], str]:
    paths: list[str] = []
    rest = text
    for pattern in (_QUOTED_PATH, _BARE_PATH):
        for match in pattern.finditer(rest):
            paths.append(match.group(1).rstrip("."))
        rest = pattern.sub(" the file ", rest)
    return paths, rest


def find_mentions(text: str, known_names: Iterable[str]) -> list[str]:
    """Known dataset/table names a text refers to, strongest first (typos and plurals included)."""
    return _find_mentions(text.lower(), known_names)


def _find_mentions(lowered: str, known_names: Iterable[str]) -> list[str]:
    words = _WORD.findall(lowered)
    scored: list[tuple[float, int, str]] = []
    for name in dict.fromkeys(n.lower() for n in known_names):
        score = _mention_score(name, words)
        if score:
            position = next((i for i, w in enumerate(words) if _mention_score(name, [w])), len(words))
            scored.append((score, position, name))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [name for _, _, name in scored]


def _mention_score(name: str, words: list[str]) -> float:
    """3 = named exactly, 2 = singular/plural or a typo, 1 = a distinctive part of the name ("invoice")."""
    best = 0.0
    raw_parts = name.split("_")
    parts = [p for p in raw_parts if len(p) >= 5 and not p.isdigit()] if len(raw_parts) > 1 else []
    for word in words:
        if word == name:
            return 3.0
        if word in (name + "s", name.rstrip("s")) or (len(word) >= 5 and _typo_of(word, name)):
            best = max(best, 2.0)
        elif any(word in (p, p.rstrip("s"), p + "s") for p in parts):
            best = max(best, 1.0)
    return best


TYPO_RATIO = 0.88


@lru_cache(maxsize=65536)
def _typo_of(word: str, name: str) -> bool:
    """`word` is `name` misspelt: difflib's ratio, which cannot reach TYPO_RATIO when the lengths differ too
    much (ratio <= 2 * shorter / both), so those pairs are not compared at all. Kept per pair: every turn
    reads the conversation's earlier messages against the same names."""
    shorter, both = min(len(word), len(name)), len(word) + len(name)
    if 2 * shorter < TYPO_RATIO * both:
        return False
    return difflib.SequenceMatcher(None, word, name).ratio() >= TYPO_RATIO


def _find_target(text: str, mentions: list[str]) -> str | None:
    found = None
    for match in _TARGET.finditer(text):
        name = match.group(1)
        if name.lower() not in _NOT_A_NAME and name.lower() not in mentions:
            found = name
    return found


def _normalize(text: str, ents: Entities) -> str:
    """The message as the router sees it: entities masked so exemplars generalise over names."""
    lowered = text.lower()
    for emoji, words in _EMOJI_WORDS.items():
        lowered = lowered.replace(emoji, words)
    if ents.sql:
        lowered = lowered.replace(ents.sql.lower(), " this sql query ")
        lowered = re.sub(r"```(sql)?|`", " ", lowered)
    for path in ents.paths:
        lowered = lowered.replace(path.lower(), " the file ")
    lowered = re.sub(r"[\"'“”‘’]\s*the file\s*[\"'“”‘’]", " the file ", lowered)
    for dialect, pattern in _DIALECT_PATTERNS:
        lowered = pattern.sub(dialect, lowered)
    words = _WORD.findall(lowered)
    out = []
    for word in words:
        if any(_mention_score(name, [word]) >= 2 for name in ents.mentions):
            if out and out[-1] in _ARTICLES:  # "the orders" -> "the dataset", not "the the dataset"
                out.pop()
            out.append("the dataset")
        else:
            out.append(word)
    normalized = " ".join(out)
    return re.sub(r"(the (dataset|file)\s*)+", lambda m: m.group(1).strip() + " ", normalized).strip()
