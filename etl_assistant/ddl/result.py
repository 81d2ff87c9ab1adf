"""What generate_ddl returns: the statements, one DDL text, and a sentence per design choice."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

TargetName = Literal["clickhouse", "postgres", "sqlite"]


class Recommendation(BaseModel):
    """Where the data should live when the person did not say, with the evidence in two or three sentences."""

    dialect: TargetName
    reason: str


class DDLResult(BaseModel):
    dataset: str
    dialect: TargetName
    table: str
    statements: list[str]  # each one statement without a trailing semicolon, in execution order
    ddl: str  # the statements joined, each ending with ";"
    explanation: list[str]  # one short sentence per design choice
    recommendation: Recommendation | None = None
