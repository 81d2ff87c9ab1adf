"""Arguments for a routed intent, from the message, the conversation state and the catalog.

When a required argument cannot be found, the result is one clarifying question naming the candidates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from etl_assistant.agent.planner.catalog_view import CatalogView
from etl_assistant.agent.planner.connection_turns import database_url, named_connection
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


@dataclass(frozen=True)
class Request:
    """What every filler reads: the message's entities, the conversation so far and the catalog."""

    ents: Entities
    state: ConversationState
    catalog: CatalogView
    follow_up: bool = False  # routed as "the last action again, with changes"
    warehouse_dialect: str = "clickhouse"  # SQL the planner builds itself (previews) is rendered for it


def fill(intent: str, req: Request) -> Filled | Missing:
    return _FILLERS.get(intent, _fill_request)(req)


def _fill_infer(req: Request) -> Filled | Missing:
    if len(req.ents.paths) > 1:
        return _per_file("infer_schema", req.ents.paths, {})
    if req.ents.paths:
        args: dict[str, Any] = {"path": req.ents.paths[0]}
        if req.ents.target:
            args["name"] = req.ents.target
        return _single("infer_schema", args)
    mention = _first(req.ents.mentions)
    if req.ents.table_mode:
        if mention:
            return _single("infer_schema", {"table": mention})
        return Missing(f"Which warehouse table should I profile{_choices(req.catalog.tables)}?")
    if mention:
        known = req.catalog.dataset(mention)
        if known and known.source and not known.source.startswith("table:"):
            return _single("infer_schema", {"path": known.source})
        return _single("infer_schema", {"table": mention})
    if req.state.path:  # nothing named: the file this conversation is about
        return _single("infer_schema", {"path": req.state.path})
    return Missing(
        "Which file should I inspect? Give me its path (or upload it) and I will infer its schema."
    )


def _fill_ddl(req: Request) -> Filled | Missing:
    options: dict[str, Any] = {}
    # A change to the last DDL ("now do it for customers", "name the table X") keeps its dialect.
    revising = req.state.last_intent == "generate_ddl" and (
        req.follow_up or not req.ents.mentions and not req.ents.paths
    )
    target_dialect = req.ents.dialect or (req.state.dialect if revising else None)
    if target_dialect:
        options["dialect"] = target_dialect
    if req.ents.target:
        options["table"] = req.ents.target
    elif (
        req.follow_up
        and req.state.last_intent == "generate_ddl"
        and req.state.last_args.get("table")
        and not req.ents.mentions
    ):
        options["table"] = req.state.last_args["table"]
    if req.ents.paths:
        path = req.ents.paths[0]
        return Filled(
            {"path": path, **options},
            [Step("infer_schema", {"path": path}), Step("generate_ddl", dict(options))],
        )
    dataset = _dataset(req)
    if dataset is None:
        return Missing(f"Which dataset should I design the table for{_choices(req.catalog.dataset_names)}?")
    return _single("generate_ddl", {"dataset": dataset, **options})


def _fill_load(req: Request) -> Filled | Missing:
    options: dict[str, Any] = {}
    if req.ents.target:
        options["table"] = req.ents.target
    elif req.state.last_intent == "generate_ddl" and req.state.last_args.get("table"):
        options["table"] = req.state.last_args["table"]
    if req.ents.replace:
        options["replace"] = True
    if len(req.ents.paths) > 1:
        return _per_file("load_table", req.ents.paths, {k: v for k, v in options.items() if k != "table"})
    if req.ents.paths:
        return _single("load_table", {"path": req.ents.paths[0], **options})
    dataset = _dataset(req)
    if dataset is None:
        return Missing(f"Which dataset or file should I load{_choices(req.catalog.dataset_names)}?")
    return _single("load_table", {"dataset": dataset, **options})


def _fill_query(req: Request) -> Filled | Missing:
    if req.ents.sql:
        args: dict[str, Any] = {"sql": req.ents.sql}
        if req.ents.limit:
            args["limit"] = req.ents.limit
        return _single("run_query", args)
    table = _first(req.ents.mentions) or req.state.table or req.state.dataset
    if table is None:
        return Missing(
            "Which SQL should I run? Paste a SELECT statement, or name a table to preview"
            f"{_choices(req.catalog.tables, lead=' (')}{')' if req.catalog.tables else ''}."
        )
    source = exp.to_table(table)
    if _COUNT.search(req.ents.text.lower()):
        return _single(
            "run_query",
            {"sql": exp.select(exp.Count(this=exp.Star())).from_(source).sql(req.warehouse_dialect)},
        )
    return _single(
        "run_query",
        {
            "sql": exp.select("*").from_(source).sql(req.warehouse_dialect),
            "limit": req.ents.limit or PREVIEW_ROWS,
        },
    )


def _fill_list(req: Request) -> Filled | Missing:
    return _single("list_datasets", {})


def _fill_ask(req: Request) -> Filled | Missing:
    args: dict[str, Any] = {"question": req.ents.text.strip()}
    if (
        req.state.last_intent == "ask"
        and req.state.ask_parse
        and (req.follow_up or _FOLLOW_UP_QUESTION.search(req.ents.text))
    ):
        args["previous"] = req.state.ask_parse
    return _single("ask", args)


def _fill_request(req: Request, *, intent: str = "design_datamart") -> Filled | Missing:
    """A datamart in words: the request plus whatever dataset, dialect and name the message gives."""
    args: dict[str, Any] = {"request": req.ents.text.strip()}
    dataset = _dataset(req, by_columns=True)
    if dataset:
        args["dataset"] = dataset
    if req.ents.dialect:
        args["dialect"] = req.ents.dialect
    if req.ents.target:
        args["name"] = req.ents.target
    return _single(intent, args)


def _fill_deploy(req: Request) -> Filled | Missing:
    """Deploy the datamart just designed ("deploy it" after a datamart), else the dataset meant."""
    named = req.ents.mentions[0] if req.ents.mentions else None
    if req.state.datamart and (
        named == req.state.datamart
        or not named
        and req.state.last_intent == "design_datamart"
        or _DATAMART_WORD.search(req.ents.text)
    ):
        return Filled({"datamart": req.state.datamart}, [Step("deploy", {"datamarts": [req.state.datamart]})])
    dataset = _dataset(req)
    if dataset is None:
        return Missing(f"What should I deploy{_choices(req.catalog.dataset_names)}?")
    args = {"dataset": dataset, **({"dialect": req.ents.dialect} if req.ents.dialect else {})}
    return Filled(args, [Step("deploy", {"datasets": [dataset]})])


def _fill_target(req: Request, *, intent: str = "rollback") -> Filled | Missing:
    """Rollback and deploy history name one deployed object: named, else the one just deployed/designed."""
    target = (
        _first(req.ents.mentions)
        or req.state.deployed
        or req.state.datamart
        or req.state.table
        or req.state.dataset
    )
    if target is None:
        verb = "roll back" if intent == "rollback" else "show the deploy history of"
        return Missing(f"Which table or datamart should I {verb}{_choices(req.catalog.tables)}?")
    return _single(intent, {"target": target})


def _fill_history(req: Request) -> Filled | Missing:
    return _fill_target(req, intent="deployments")


def _fill_verify(req: Request) -> Filled | Missing:
    """Save this: the last answer's question and the SQL that answered it, as the ask tool returned them."""
    asked = req.state.asked
    if asked is None:
        return Missing(
            "There is no answer to save yet: ask me a question about your data, and if the answer is right "
            "say `save this`."
        )
    if not asked.sql:
        return Missing(
            f"My answer to '{asked.question}' was a question back, not SQL, so there is nothing to save yet: "
            "answer it or rephrase the question, then say `save this`."
        )
    if asked.follow_up:
        return Missing(
            f"'{asked.question}' only makes sense after the question before it, so it cannot be reused on "
            "its own: ask it again in full, then say `save this`."
        )
    args: dict[str, Any] = {"question": asked.question, "sql": asked.sql}
    if asked.today:
        args["today"] = asked.today
    return _single("verify", args)


def _fill_add_connection(req: Request) -> Filled | Missing:
    """"connect to postgresql://…" (optionally "as shop"): the URL as typed; the tool names it otherwise."""
    url = database_url(req.ents.text)
    if url is None:
        return Missing("Which database should I connect? Give its URL, e.g. postgresql://user@host:5432/db.")
    args: dict[str, Any] = {"url": url}
    if req.ents.target:
        args["name"] = req.ents.target
    return _single("add_connection", args)


def _fill_list_tables(req: Request) -> Filled | Missing:
    """"what tables are in shop?": the connection the message names."""
    name = named_connection(req.ents.text, req.catalog.connections)
    if name is None:
        return Missing(f"Which connection's tables should I list{_choices(req.catalog.connections)}?")
    return _single("list_tables", {"connection": name})


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
    "verify": _fill_verify,
    "add_connection": _fill_add_connection,
    "list_tables": _fill_list_tables,
}


def _dataset(req: Request, *, by_columns: bool = False) -> str | None:
    """The dataset meant: named in the message, else the one the conversation is about, else the only one."""
    mention = _first(req.ents.mentions)
    if mention:
        return mention
    if by_columns:
        linked = req.catalog.datasets_with_columns(set(_WORDS.findall(req.ents.text.lower())))
        if len(linked) == 1:
            return linked[0]
    if req.state.dataset:
        return req.state.dataset
    if len(req.catalog.datasets) == 1:
        return req.catalog.datasets[0].name
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
