"""Words of a question and of identifiers, reduced to comparable forms (lowercase lemmas, typo-corrected)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# Dates, numbers with separators/decimals, words (with inner apostrophes), and comparison symbols.
_TOKEN = re.compile(
    r"\d{4}-\d{2}-\d{2}|\$?\d[\d,]*(?:\.\d+)?[km]?\b|[a-z][a-z0-9_']*|>=|<=|<>|!=|[<>=]", re.IGNORECASE
)
_SPLIT_IDENTIFIER = re.compile(r"[a-z]+|\d+")

# Number words people type instead of digits ("top five", "last three months").
NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "fifty": 50,
    "hundred": 100,
}


@dataclass
class Token:
    text: str  # as written
    low: str  # lowercase
    lemma: str
    start: int  # character offset in the question
    used: bool = False  # consumed by a recognised phrase

    @property
    def is_number(self) -> bool:
        return number_value(self.low) is not None


def lemma(word: str) -> str:
    """A crude singular: countries -> country, statuses -> status, orders -> order (both sides use it)."""
    word = word.lower()
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "uses", "xes", "ches", "shes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def words_of(identifier: str) -> list[str]:
    """snake_case / camelCase identifier -> lowercase words: "orderDate2" -> ["order", "date", "2"]."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", identifier)
    return _SPLIT_IDENTIFIER.findall(spaced.lower())


def tokenize(question: str) -> list[Token]:
    text = question.replace("’", "'")
    tokens = []
    for match in _TOKEN.finditer(text):
        raw = match.group(0)
        if raw.lower().endswith("'s"):
            raw = raw[:-2]
        tokens.append(Token(raw, raw.lower(), lemma(raw.strip("'")), match.start()))
    return tokens


def number_value(text: str) -> float | None:
    """ "1,000" -> 1000, "$2.5k" -> 2500, "600000" -> 600000; None for anything else."""
    match = re.fullmatch(r"\$?(\d[\d,]*(?:\.\d+)?)([km]?)", text.lower())
    if not match:
        return None
    value = float(match.group(1).replace(",", ""))
    return value * {"k": 1e3, "m": 1e6, "": 1}[match.group(2)]


def correct(word: str, vocabulary: set[str]) -> str | None:
    """The vocabulary word a typo most likely meant ("revnue" -> "revenue"), or None when nothing is close."""
    if len(word) < 4 or word in vocabulary or not word.isalpha():
        return None
    cutoff = 0.8 if len(word) < 7 else 0.75
    close = difflib.get_close_matches(
        word, [v for v in vocabulary if abs(len(v) - len(word)) <= 2], n=1, cutoff=cutoff
    )
    return close[0] if close else None
