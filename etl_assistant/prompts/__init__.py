"""Prompt templates for the LLM path, one `<name>.md` file each, loaded by name."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_DIR = Path(__file__).parent


@cache
def load_prompt(name: str) -> str:
    path = _DIR / f"{name}.md"
    if not path.is_file():
        raise KeyError(f"No prompt named {name!r} in {_DIR}.")
    return path.read_text(encoding="utf-8").strip()
