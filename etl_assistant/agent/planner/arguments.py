"""Arguments for a routed intent, from the message, the conversation state and the catalog.

When a required argument cannot be found, the result is one clarifying question naming the candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from etl_assistant.agent.planner.catalog_view import CatalogView
from etl_assistant.agent.planner.entities import Entities
from etl_assistant.agent.planner.state import ConversationState

PREVIEW_ROWS = 10
_COUNT = re.compile(
    r"\b(how many|count|number of) (the )?(rows|records|lines)\b|\bhow many\b.*\b(load|in it|there)\b"
)
_WORDS = re.compile(r"[a-z0-9_]+")
_DATAMART_WORD = re.compile(r"\b(data ?marts?|marts?|materiali[sz]ed view)\b", re.IGNORECASE)
_FOLLOW_UP_QUESTION = re.compile(r"^\s*(and|what about|how about|same|now|also|only|but)\b", re.IGNORECASE)


@dataclass
class Step:
    tool: str
    args: dict[str, Any]


@dataclass
class Filled:
    """The intent's arguments (what the eval checks) and the tool calls that carry it out.

    Steps run in order, and a later step may need an earlier one's result: generate_ddl for a file runs
    infer_schema first and takes the dataset name from its output (see `Planner._continue`). Parallel steps
    are independent (one per file named) and are emitted together.
    """

    args: dict[str, Any]
    steps: list[Step] = field(default_factory=list)
    parallel: bool = False


@dataclass
class Missing:
    question: str


def fill(
    intent: str,
    ents: Entities,
    state: ConversationState,
    catalog: CatalogView,
    *,
    follow_up: bool = False,
    warehouse_dialect: str = "clickhouse",
) -> Filled | Missing:
    filler = _FILLERS.get(intent, _fill_request)
    return filler(ents, state, catalog, follow_up, warehouse_dialect)


def _fill_infer(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    if len(ents.paths) > 1:
        return _per_file("infer_schema", ents.paths, {})
    if ents.paths:
        args: dict[str, Any] = {"path": ents.paths[0]}
        if ents.target:
            args["name"] = ents.target
        return _single("infer_schema", args)
    mention = _first(ents.mentions)
    if ents.table_mode:
        if mention:
            return _single("infer_schema", {"table": mention})
        return Missing(f"Which warehouse table should I profile{_choices(catalog.tables)}?")
    if mention:
        known = catalog.dataset(mention)
        if known and known.source and not known.source.startswith("table:"):
            return _single("infer_schema", {"path": known.source})
        return _single("infer_schema", {"table": mention})
    if state.path:  # nothing named: the file this conversation is about
        return _single("infer_schema", {"path": state.path})
    return Missing(
        "Which file should I inspect? Give me its path (or upload it) and I will infer its schema."
    )


def _fill_ddl(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    options: dict[str, Any] = {}
    # A change to the last DDL ("now do it for customers", "name the table X") keeps its dialect.
    revising = state.last_intent == "generate_ddl" and (follow_up or not ents.mentions and not ents.paths)
    target_dialect = ents.dialect or (state.dialect if revising else None)
    if target_dialect:
        options["dialect"] = target_dialect
    if ents.target:
        options["table"] = ents.target
    elif (
        follow_up
        and state.last_intent == "generate_ddl"
        and state.last_args.get("table")
        and not ents.mentions
    ):
        options["table"] = state.last_args["table"]
    if ents.paths:
        path = ents.paths[0]
        return Filled(
            {"path": path, **options},
            [Step("infer_schema", {"path": path}), Step("generate_ddl", dict(options))],
        )
    dataset = _dataset(ents, state, catalog)
    if dataset is None:
        return Missing(f"Which dataset should I design the table for{_choices(catalog.dataset_names)}?")
    return _single("generate_ddl", {"dataset": dataset, **options})


def _fill_load(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    options: dict[str, Any] = {}
    if ents.target:
        options["table"] = ents.target
    elif state.last_intent == "generate_ddl" and state.last_args.get("table"):
        options["table"] = state.last_args["table"]
    if ents.replace:
        options["replace"] = True
    if len(ents.paths) > 1:
        return _per_file("load_table", ents.paths, {k: v for k, v in options.items() if k != "table"})
    if ents.paths:
        return _single("load_table", {"path": ents.paths[0], **options})
    dataset = _dataset(ents, state, catalog)
    if dataset is None:
        return Missing(f"Which dataset or file should I load{_choices(catalog.dataset_names)}?")
    return _single("load_table", {"dataset": dataset, **options})


def _fill_query(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    if ents.sql:
        args: dict[str, Any] = {"sql": ents.sql}
        if ents.limit:
            args["limit"] = ents.limit
        return _single("run_query", args)
    table = _first(ents.mentions) or state.table or state.dataset
    if table is None:
        return Missing(
            "Which SQL should I run? Paste a SELECT statement, or name a table to preview"
            f"{_choices(catalog.tables, lead=' (')}{')' if catalog.tables else ''}."
        )
    source = exp.to_table(table)
    if _COUNT.search(ents.text.lower()):
        return _single(
            "run_query", {"sql": exp.select(exp.Count(this=exp.Star())).from_(source).sql(dialect)}
        )
    return _single(
        "run_query", {"sql": exp.select("*").from_(source).sql(dialect), "limit": ents.limit or PREVIEW_ROWS}
    )


def _fill_list(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    return _single("list_datasets", {})


def _fill_ask(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    args: dict[str, Any] = {"question": ents.text.strip()}
    if (
        state.last_intent == "ask"
        and state.ask_parse
        and (follow_up or _FOLLOW_UP_QUESTION.search(ents.text))
    ):
        args["previous"] = state.ask_parse
    return _single("ask", args)


def _fill_request(
    ents: Entities,
    state: ConversationState,
    catalog: CatalogView,
    follow_up: bool,
    dialect: str,
    *,
    intent: str = "design_datamart",
) -> Filled | Missing:
    """A datamart in words: the request plus whatever dataset, dialect and name the message gives."""
    args: dict[str, Any] = {"request": ents.text.strip()}
    dataset = _dataset(ents, state, catalog, by_columns=True)
    if dataset:
        args["dataset"] = dataset
    if ents.dialect:
        args["dialect"] = ents.dialect
    if ents.target:
        args["name"] = ents.target
    return _single(intent, args)


def _fill_deploy(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    """Deploy the datamart just designed ("deploy it" after a datamart), else the dataset meant."""
    named = ents.mentions[0] if ents.mentions else None
    if state.datamart and (
        named == state.datamart
        or not named
        and state.last_intent == "design_datamart"
        or _DATAMART_WORD.search(ents.text)
    ):
        return Filled({"datamart": state.datamart}, [Step("deploy", {"datamarts": [state.datamart]})])
    dataset = _dataset(ents, state, catalog)
    if dataset is None:
        return Missing(f"What should I deploy{_choices(catalog.dataset_names)}?")
    args = {"dataset": dataset, **({"dialect": ents.dialect} if ents.dialect else {})}
    return Filled(args, [Step("deploy", {"datasets": [dataset]})])


def _fill_target(
    ents: Entities,
    state: ConversationState,
    catalog: CatalogView,
    follow_up: bool,
    dialect: str,
    *,
    intent: str = "rollback",
) -> Filled | Missing:
    """Rollback and deploy history name one deployed object: named, else the one just deployed/designed."""
    target = _first(ents.mentions) or state.deployed or state.datamart or state.table or state.dataset
    if target is None:
        verb = "roll back" if intent == "rollback" else "show the deploy history of"
        return Missing(f"Which table or datamart should I {verb}{_choices(catalog.tables)}?")
    return _single(intent, {"target": target})


def _fill_history(
    ents: Entities, state: ConversationState, catalog: CatalogView, follow_up: bool, dialect: str
) -> Filled | Missing:
    return _fill_target(ents, state, catalog, follow_up, dialect, intent="deployments")


_FILLERS = {
    "infer_schema": _fill_infer,
    "generate_ddl": _fill_ddl,
    "load_table": _fill_load,
    "run_query": _fill_query,
    "list_datasets": _fill_list,
    "ask": _fill_ask,
    "design_datamart": _fill_request,
    "deploy": _fill_deploy,
    "rollback": _fill_target,
    "deployments": _fill_history,
}


def _dataset(
    ents: Entities, state: ConversationState, catalog: CatalogView, *, by_columns: bool = False
) -> str | None:
    """The dataset meant: named in the message, else the one the conversation is about, else the only one."""
    mention = _first(ents.mentions)
    if mention:
        return mention
    if by_columns:
        linked = catalog.datasets_with_columns(set(_WORDS.findall(ents.text.lower())))
        if len(linked) == 1:
            return linked[0]
    if state.dataset:
        return state.dataset
    if len(catalog.datasets) == 1:
        return catalog.datasets[0].name
    return None


def _per_file(tool: str, paths: list[str], options: dict[str, Any]) -> Filled:
    """Several files named at once: one independent call per file (each gets its own table/dataset name)."""
    steps = [Step(tool, {"path": path, **options}) for path in dict.fromkeys(paths)]
    return Filled({"path": paths[0], **options}, steps, parallel=True)


def _single(tool: str, args: dict[str, Any]) -> Filled:
    return Filled(args, [Step(tool, dict(args))])


def _first(names: list[str]) -> str | None:
    return names[0] if names else None


def _choices(names: list[str] | tuple[str, ...], lead: str = ": ") -> str:
    names = list(names)[:8]
    if not names:
        return ""
    if len(names) == 1:
        return f"{lead}{names[0]}"
    return f"{lead}{', '.join(names[:-1])} or {names[-1]}"
