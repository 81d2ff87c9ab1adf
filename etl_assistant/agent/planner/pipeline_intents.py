"""Pipeline intents of the offline planner: when they may be meant, and their arguments from the words.

"Load sales data from PostgreSQL to ClickHouse daily at 2 AM" names a source table, the database it lives in
(a connection, by name or by engine), a schedule phrase and maybe a mode, cursor or light transforms; the
create_pipeline tool checks all of it against the real source and says what is wrong in one sentence. The
other intents (run, pause, resume, runs, delete, export) act on one pipeline: named, else the one this
conversation is about, else the only one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from etl_assistant.agent.planner.arguments import Filled, Missing, Request, Step, _choices, _single
from etl_assistant.agent.planner.catalog_view import CatalogView
from etl_assistant.agent.planner.entities import Entities
from etl_assistant.agent.planner.state import ConversationState
from etl_assistant.pipelines.schedule import find_schedule_phrase

ACTS_ON_ONE = ("run_pipeline", "pause_pipeline", "resume_pipeline", "pipeline_runs", "delete_pipeline",
               "export_pipeline")
PIPELINE_INTENTS = ("create_pipeline", "pipelines", *ACTS_ON_ONE)
DESCRIPTIONS = {
    "create_pipeline": "set up a pipeline (a scheduled sync)",
    "pipelines": "list your pipelines",
    "run_pipeline": "run a pipeline now",
    "pause_pipeline": "pause a pipeline",
    "resume_pipeline": "resume a pipeline",
    "pipeline_runs": "show a pipeline's runs",
    "delete_pipeline": "delete a pipeline",
    "export_pipeline": "export a pipeline as an Airflow DAG",
}

_PIPELINE_WORD = re.compile(r"\b(pipelines?|syncs?|sync jobs?|scheduled (loads?|jobs?|syncs?))\b")
_MOVES = re.compile(r"\b(load\w*|cop(?:y|ies|ied|ying)|sync\w*|synchroni[sz]\w*|replicat\w*|mirror\w*"
                    r"|mov(?:e|es|ed|ing)|pull\w*|ingest\w*|import\w*|bring\w*|brought|transfer\w*"
                    r"|extract\w*|stream\w*|keep)\b")
_KEEP_IN_SYNC = re.compile(r"\b(keep|kept)\b.*\b(in sync|up to date|synced|fresh)\b")
_CREATE_PIPELINE = re.compile(r"\b(create|set up|setup|make|build|new|schedule)\b.*\bpipeline\b")
_SCHEDULE_TAIL = re.compile(r"\b(every|each|daily|hourly|nightly|weekly|monthly|weekdays?|twice|cron"
                            r"|at \d|at (midnight|noon))\b.*$")
_ENGINES = {"postgresql": r"postgre\w*|pg|psql", "clickhouse": r"clickhouse|ch", "chdb": r"chdb",
            "sqlite": r"sqlite3?"}
_SOURCE_ENGINE = re.compile(r"\bfrom\s+(?:the\s+|my\s+|our\s+|a\s+)?"
                            r"(?P<engine>postgre\w*|pg|psql|clickhouse|ch|chdb|sqlite3?)\b")
_NOT_A_TABLE = frozenset(
    "data it them this that everything all the a an my our new some rows records table tables from to into "
    "in and on with database db pipeline pipelines warehouse".split()
)
_QUALIFIED = re.compile(r"\b(?P<first>[a-z_]\w*)\.(?P<second>[a-z_]\w*)\b")
_TABLE_AFTER_MOVE = re.compile(
    rf"{_MOVES.pattern}\s+(?:(?:the|all|my|our|new|of the|every)\s+)*(?P<table>[a-z_]\w*)"
)
_THE_TABLE = re.compile(r"\b(?:the\s+)?(?P<table>[a-z_]\w*)\s+table\b|\btable\s+(?P<named>[a-z_]\w*)\b")
_PIPELINE_FOR = re.compile(r"\bpipeline\s+(?:for|from|of)\s+(?:the\s+)?(?P<table>[a-z_]\w*)")
_MODES = (
    ("full_refresh", re.compile(r"\bfull[ -]?refresh\w*|\breplace (it|everything) each time\b")),
    ("upsert", re.compile(r"\bupsert\w*|\bmerge by key\b|\bone row per key\b")),
    ("incremental", re.compile(r"\bincremental\w*|\bonly (new|changed) rows\b")),
    ("append", re.compile(r"\bappend\w*")),
)
_CURSOR = re.compile(r"\b(?:cursor(?: column)?\s+(?:is\s+)?|(?:by|on|using)\s+(?:the\s+)?)(?P<col>[a-z_]\w*)"
                     r"(?:\s+(?:cursor|column))?")
_KEY = re.compile(r"\b(?:primary )?key(?:ed)?\s+(?:is\s+|by\s+|on\s+)?"
                  r"(?P<cols>[a-z_]\w*(?:\s*,\s*[a-z_]\w*)*)")
_RENAME = re.compile(r"\brename\s+(?:column\s+)?(?P<col>[a-z_]\w*)\s+(?:to|as)\s+(?P<to>[a-z_]\w*)",
                     re.IGNORECASE)
_CAST = re.compile(r"\bcast\s+(?:column\s+)?(?P<col>[a-z_]\w*)\s+(?:to|as)\s+"
                   r"(?P<type>[a-z]\w*(?:\(\d+(?:,\s*\d+)?\))?)", re.IGNORECASE)
_FILTER = re.compile(r"\b(?:only\s+(?:rows\s+)?where|where|filter(?:ed)?\s+(?:on|by|to)?\s*)\s+(?P<expr>.+?)"
                     r"(?=\s*(?:[,;]|$|\b(?:and then|then)\b))", re.IGNORECASE)
_DEDUPE = re.compile(r"\bdedup\w*\s+(?:by|on)\s+(?P<cols>[a-z_]\w*(?:\s*(?:,|and)\s*[a-z_]\w*)*)",
                     re.IGNORECASE)
_DERIVE = re.compile(r"\badd\s+(?:a\s+)?column\s+(?P<to>[a-z_]\w*)\s*(?:=|as)\s*"
                     r"(?P<expr>.+?)(?=\s*(?:[,;]|$))", re.IGNORECASE)
_ZONE = re.compile(r"\b(?:in\s+|time\s*zone\s+)?(?P<zone>(?:Africa|America|Antarctica|Asia|Atlantic|Australia"
                   r"|Europe|Indian|Pacific)/[A-Za-z_]+(?:/[A-Za-z_]+)?|UTC)\b(?:\s+time)?")
_FOLDER = re.compile(r"\b(?:to|into|in)\s+(?:the\s+)?(?:folder\s+)?"
                     r"(?P<folder>[~./][^\s,;]*|[\w.-]+/[^\s,;]*)")


def excluded_intents(ents: Entities, state: ConversationState, catalog: CatalogView) -> set[str]:
    """Pipeline intents this message cannot mean: creating needs words that move data on a schedule or
    the word pipeline; acting on one needs a pipeline to act on (named, talked about, or the word); export
    needs Airflow."""
    text = ents.text.lower()
    named = named_pipelines(text, catalog.pipelines)
    talked_about = bool(_PIPELINE_WORD.search(text) or named or state.pipeline)
    excluded: set[str] = set()
    if not talked_about:
        excluded |= set(ACTS_ON_ONE)
    if not _PIPELINE_WORD.search(text):
        excluded.add("pipelines")
    if not re.search(r"\b(airflow|dags?)\b", text):
        excluded.add("export_pipeline")
    if not creates_pipeline(text, catalog):
        excluded.add("create_pipeline")
    elif reads_a_database(text, catalog) and not ents.paths:
        excluded.add("load_table")  # it loads files and datasets; rows from a database come by a pipeline
    return excluded


def reads_a_database(text: str, catalog: CatalogView) -> bool:
    """"from PostgreSQL", "from shop" (a connection): the source is a database."""
    return bool(_SOURCE_ENGINE.search(text)) or any(
        re.search(rf"\bfrom\s+(?:the\s+)?{re.escape(name.lower())}\b", text)
        for name in catalog.connections)


def creates_pipeline(text: str, catalog: CatalogView) -> bool:
    """Moving data on a schedule, from a database, or "create a pipeline"."""
    moves = bool(_MOVES.search(text))
    from_database = reads_a_database(text, catalog)
    scheduled = find_schedule_phrase(text) is not None
    return bool(_CREATE_PIPELINE.search(text) or _KEEP_IN_SYNC.search(text)
                or moves and (scheduled or from_database) or re.search(r"\b(sync|replicate|mirror)\b", text))


def named_pipelines(text: str, names: tuple[str, ...]) -> list[str]:
    """Pipelines named in full ("sales_sync" or "sales sync"): a shared word like "sales" names none."""
    lowered = f" {' '.join(re.findall(r'[a-z0-9_]+', text.lower()))} "
    return [n for n in names if f" {n.lower()} " in lowered or f" {n.lower().replace('_', ' ')} " in lowered]


def pipeline_named(req: Request) -> str | None:
    """The pipeline meant: named in the message, else the conversation's, else the only one."""
    named = named_pipelines(req.ents.text, req.catalog.pipelines)
    if named:
        return named[0]
    if req.state.pipeline:
        return req.state.pipeline
    if len(req.catalog.pipelines) == 1:
        return req.catalog.pipelines[0]
    return None


def _fill_one(intent: str) -> Callable[[Request], Filled | Missing]:
    """The filler of an intent that acts on one pipeline (and, for export, the folder named)."""
    verbs = {"run_pipeline": "run now", "pause_pipeline": "pause", "resume_pipeline": "resume",
             "pipeline_runs": "show the runs of", "delete_pipeline": "delete",
             "export_pipeline": "export to Airflow"}

    def fill(req: Request) -> Filled | Missing:
        name = pipeline_named(req)
        if name is None:
            if not req.catalog.pipelines:
                return Missing("There is no pipeline yet; set one up first, e.g. `load sales from shop daily "
                               "at 2 AM`.")
            return Missing(f"Which pipeline should I {verbs[intent]}{_choices(req.catalog.pipelines)}?")
        args: dict[str, Any] = {"name": name}
        folder = _FOLDER.search(req.ents.text) if intent == "export_pipeline" else None
        if folder:
            args["folder"] = folder.group("folder")
        return _single(intent, args)

    return fill


def _fill_list(req: Request) -> Filled | Missing:
    return _single("pipelines", {})


def _fill_create(req: Request) -> Filled | Missing:
    """create_pipeline plans (read-only) and returns a plan; apply_deploy, after approval, creates it."""
    text = req.ents.text
    lowered = text.lower()
    schedule = find_schedule_phrase(text)
    rest = lowered.replace(schedule.lower(), " ") if schedule else lowered
    if schedule is None:
        tail = _SCHEDULE_TAIL.search(lowered)
        if tail:  # schedule words we cannot read: the tool says so, with examples, before anything exists
            schedule = text[tail.start() : tail.end()].strip(" .!?")
            rest = lowered[: tail.start()]
    connection, table = _source(rest, req.catalog)
    if table is None:
        return Missing("Which table should the pipeline read? Name it, e.g. `load sales from shop daily at "
                       f"2 AM`{_known_connections(req.catalog)}.")
    if connection is None:
        candidates = _connections_for(rest, req.catalog)
        if len(candidates) == 1:
            connection = candidates[0]
        elif not candidates:
            return Missing(f"Which database holds {table}? Connect one first: `connect to "
                           "postgresql://user@host:5432/db` (or set ETLA_CONNECTIONS), then ask again.")
        else:
            return Missing(f"Which connection holds {table}{_choices(candidates)}?")
    args: dict[str, Any] = {"source_connection": connection, "source_table": table}
    if req.ents.target and req.ents.target.lower() != table.lower():
        args["target_table"] = req.ents.target
    if schedule:
        args["schedule"] = schedule
        zone = _ZONE.search(text)
        if zone:  # "daily at 2 AM Europe/Berlin": the zone the times are meant in (else ETLA_TIMEZONE)
            args["timezone"] = zone["zone"]
    args.update(_mode_words(rest))
    transforms = _transforms(text)
    if transforms:
        args["transforms"] = transforms
    return Filled(args, [Step("create_pipeline", dict(args)), Step("apply_deploy", {})])


def _source(text: str, catalog: CatalogView) -> tuple[str | None, str | None]:
    """(connection, table) the words name: `shop.sales`, `sales from shop`, `load the sales table` ..."""
    connections = {name.lower(): name for name in catalog.connections}
    for match in _QUALIFIED.finditer(text):
        if match["first"] in connections:
            return connections[match["first"]], match["second"]
    qualified = _QUALIFIED.search(text)  # schema.table in a connection named otherwise
    named = next((connections[w] for w in re.findall(r"[a-z_]\w*", text) if w in connections), None)
    for pattern in (_PIPELINE_FOR, _TABLE_AFTER_MOVE, _THE_TABLE):
        for match in pattern.finditer(text):
            table = match.groupdict().get("table") or match.groupdict().get("named")
            if table and table not in _NOT_A_TABLE and table not in connections and not _is_engine(table):
                return named, table
    return named, qualified.group(0) if qualified else None


def _is_engine(word: str) -> bool:
    return any(re.fullmatch(pattern, word) for pattern in _ENGINES.values())


def _connections_for(text: str, catalog: CatalogView) -> list[str]:
    """The connections that could be meant: of the engine the words name ("from PostgreSQL"), else all."""
    engine = _SOURCE_ENGINE.search(text)
    if engine:
        kinds = [kind for kind, pattern in _ENGINES.items() if re.fullmatch(pattern, engine["engine"])]
        kind_of = dict(catalog.connection_kinds)
        matching = [name for name in catalog.connections if kind_of.get(name) in kinds]
        if matching:
            return matching
    return list(catalog.connections)


def _known_connections(catalog: CatalogView) -> str:
    names = list(catalog.connections)
    return f" (connections: {', '.join(names)})" if names else ""


def _mode_words(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for mode, pattern in _MODES:
        if pattern.search(text):
            found["mode"] = mode
            break
    cursor = _CURSOR.search(text) if found.get("mode") in ("incremental", "upsert") else None
    if cursor and cursor["col"] not in _NOT_A_TABLE:
        found["cursor"] = cursor["col"]
    key = _KEY.search(text)
    if key:
        found["primary_key"] = [c.strip() for c in key["cols"].split(",")]
    return found


def _transforms(text: str) -> list[dict[str, Any]]:
    """Light transforms said in words, in the order said; their columns are checked by the tool."""
    found: list[tuple[int, dict[str, Any]]] = []
    for match in _RENAME.finditer(text):
        found.append((match.start(), {"kind": "rename", "column": match["col"], "to": match["to"]}))
    for match in _CAST.finditer(text):  # as typed: ClickHouse type names are case-sensitive
        found.append((match.start(), {"kind": "cast", "column": match["col"], "type": match["type"]}))
    for match in _DEDUPE.finditer(text):
        columns = [c.strip() for c in re.split(r",|\band\b", match["cols"]) if c.strip()]
        found.append((match.start(), {"kind": "dedupe", "columns": columns}))
    for match in _DERIVE.finditer(text):
        derived = {"kind": "derive", "to": match["to"], "expression": match["expr"]}
        found.append((match.start(), derived))
    for match in _FILTER.finditer(text):
        found.append((match.start(), {"kind": "filter", "expression": match["expr"].strip()}))
    return [transform for _, transform in sorted(found, key=lambda item: item[0])]


FILLERS = {"create_pipeline": _fill_create, "pipelines": _fill_list, **{i: _fill_one(i) for i in ACTS_ON_ONE}}
