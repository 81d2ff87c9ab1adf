"""The deterministic planner: from a conversation to the next tool calls or the reply.

One turn = route the last human message (rules + embeddings), fill the arguments (message, conversation state,
catalog), then either emit the tool calls or ask one clarifying question. When tool results arrive it runs the
next planned step or writes the final reply from them. All state is derived from the messages themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from etl_assistant.agent.planner import replies
from etl_assistant.agent.planner.arguments import Filled, Missing, Request, Step, fill
from etl_assistant.agent.planner.catalog_view import CatalogView
from etl_assistant.agent.planner.connection_turns import connection_intent, named_connection
from etl_assistant.agent.planner.entities import Entities, extract, find_mentions
from etl_assistant.agent.planner.exemplars import CHAT_INTENTS
from etl_assistant.agent.planner.pipeline_intents import DESCRIPTIONS as PIPELINE_DESCRIPTIONS
from etl_assistant.agent.planner.pipeline_intents import FILLERS as PIPELINE_FILLERS
from etl_assistant.agent.planner.pipeline_intents import PIPELINE_INTENTS, creates_pipeline, excluded_intents
from etl_assistant.agent.planner.pipeline_replies import plan_to_approve
from etl_assistant.agent.planner.router import Route, Router, shared_router
from etl_assistant.agent.planner.state import (
    ConversationState,
    ToolStep,
    derive_state,
    last_human_index,
    message_text,
    tool_steps,
)

TOOL_INTENTS = (
    "infer_schema",
    "generate_ddl",
    "load_table",
    "run_query",
    "list_datasets",
    "ask",
    "design_datamart",
    "deploy",
    "rollback",
    "deployments",
    "verify",
    "add_connection",
    "list_tables",
    *PIPELINE_INTENTS,
)
MIN_SCORE = 0.40  # below this nothing matched well enough: ask instead of guessing
MIN_MARGIN = 0.01  # two tool intents closer than this, with no keyword cue for either: ask which one
VAGUE_MARGIN = 0.1  # a short message naming a dataset is acted on only with this lead (or a keyword)
MIN_CHAT_SCORE = 0.5  # small talk must match clearly; "hmm" or "fix it" is not a greeting
PATHLESS = frozenset({"run_query", "list_datasets", "ask", "verify"})  # intents that cannot use a file path
_LEADS_ON = re.compile(r"^\s*(and|now|same|what about|how about|ok now|also|then)\b", re.IGNORECASE)
_SAME = re.compile(r"\b(the same|same thing|instead)\b", re.IGNORECASE)
_AS_TABLE = re.compile(r"\btables?\b|\bddl\b")
_FOR_REAL = re.compile(r"\b(real|for real|in the warehouse|create it|build it)\b")
_DESCRIPTIONS = {
    "infer_schema": "inspect a file's schema",
    "generate_ddl": "design a table (DDL)",
    "load_table": "load it",
    "run_query": "run a query",
    "list_datasets": "list your datasets",
    "ask": "answer a question about the data",
    "design_datamart": "design a datamart",
    "deploy": "deploy it",
    "rollback": "roll back a deploy",
    "deployments": "show deploy history",
    "verify": "save the last answer for reuse",
    "add_connection": "connect a database",
    "list_tables": "list a connection's tables",
    **PIPELINE_DESCRIPTIONS,
}


@dataclass
class Decision:
    """What the planner does next. `intent`/`args` describe the request (the eval checks them); `calls` are
    the tool calls to emit now (none: reply with `text`)."""

    intent: str  # a tool name, "chat" or "clarify"
    args: dict[str, Any] = field(default_factory=dict)
    calls: list[Step] = field(default_factory=list)
    text: str = ""
    plan: list[Step] = field(default_factory=list)
    pending: str | None = None  # clarify: the intent that waits for the answer
    entities: Entities | None = None
    route: Route | None = None


class Planner:
    def __init__(self, router: Router | None = None, warehouse_dialect: str = "clickhouse") -> None:
        self.router = router or shared_router()
        self.warehouse_dialect = warehouse_dialect

    def decide(
        self, messages: list[BaseMessage], catalog: CatalogView, available: list[str] | None = None
    ) -> Decision:
        """The next move for a conversation whose last message is the person's or a tool result."""
        tools = list(available) if available is not None else list(TOOL_INTENTS)
        index = last_human_index(messages)
        if index is None:
            return Decision("chat", text=replies.help_text(tools))
        turn = self._decide_turn(messages[: index + 1], catalog, tools)
        done = tool_steps(messages[index + 1 :])
        if not done:
            return turn
        return self._continue(turn, done)

    def _continue(self, turn: Decision, done: list[ToolStep]) -> Decision:
        """Tool results arrived: run the next planned step, or write the reply from the results."""
        finished = all(step.done for step in done)
        planned = [step.tool for step in turn.plan]
        on_plan = planned[: len(done)] == [step.name for step in done]
        if finished and on_plan and len(done) < len(planned) and all(s.error is None for s in done):
            upcoming = turn.plan[len(done)]
            args = dict(upcoming.args)
            previous = done[-1].output or {}
            if upcoming.tool in ("generate_ddl", "load_table", "deploy") and "dataset" not in args:
                args["dataset"] = previous.get("name") or previous.get("dataset")
            if upcoming.tool == "apply_deploy" and "plan_id" not in args:  # a plan the person now approves
                args["plan_id"] = previous.get("plan_id")
                text = plan_to_approve(done[-1])
                return Decision(turn.intent, turn.args, calls=[Step(upcoming.tool, args)], plan=turn.plan,
                                text=text)
            return Decision(turn.intent, turn.args, calls=[Step(upcoming.tool, args)], plan=turn.plan)
        return Decision(turn.intent, turn.args, text=replies.reply_for_results(done))

    def _decide_turn(self, messages: list[BaseMessage], catalog: CatalogView, tools: list[str]) -> Decision:
        """Route the last (human) message of `messages` given everything before it."""
        history = messages[:-1]
        state = derive_state(history)
        if state.dataset is None:  # a thread seeded with text only (no tool calls): the last dataset named
            state.dataset = _last_named(history, catalog.dataset_names)
        known = [*catalog.dataset_names, *catalog.tables, *state.names]
        ents = extract(message_text(messages[-1]), known)
        # SQL in the message decides the tool by rule (run_query): no sentence embedding for it
        route = Route((), frozenset()) if ents.sql else self.router.route(ents.normalized)
        decision = self._choose(ents, route, state, catalog, tools, history)
        decision.entities, decision.route = ents, route
        return decision

    def _choose(
        self,
        ents: Entities,
        route: Route,
        state: ConversationState,
        catalog: CatalogView,
        tools: list[str],
        history: list[BaseMessage],
    ) -> Decision:
        by_rule = connection_intent(ents, catalog.connections)
        if by_rule == "list_tables" and creates_pipeline(ents.text.lower(), catalog):
            by_rule = None  # "bring the payments table over from shop hourly" moves a table: a pipeline
        if by_rule is not None:
            return self._fill(by_rule, ents, state, catalog, tools)
        resumed = self._resume_clarification(ents, history, catalog, tools)
        if resumed is not None:
            return resumed
        if ents.sql:
            return self._fill("run_query", ents, state, catalog, tools)
        unmeant = excluded_intents(ents, state, catalog)
        if route.scores[0][0] == "load_table" and "load_table" in unmeant and "create_pipeline" in tools:
            # the words load rows, and rows from a database come by a pipeline, even when a warehouse table
            # of that name makes the rest of the message look like a request about the table
            return self._fill("create_pipeline", ents, state, catalog, tools)
        ranked = [i for i in _ranked_intents(ents, route, state) if i not in unmeant]
        intent = ranked[0]
        score = route.score_of(intent)
        if intent in CHAT_INTENTS and score >= MIN_CHAT_SCORE and not (ents.paths or ents.mentions):
            return Decision(
                "chat",
                text=replies.THANKS if intent == "thanks" else replies.help_text(tools, intent == "greeting"),
            )
        follow_up = intent == "repeat"
        if follow_up:
            intent = self._repeated_intent(ents, state)
            if intent is None:
                return Decision(
                    "clarify", text="What should I do again? Name the file or dataset and the action."
                )
        elif ents.mentions and not ents.paths and _vague(ents, ranked, route):
            return Decision(
                "clarify",
                text=(
                    f"What should I do with {ents.mentions[0]}: "
                    + ", ".join(_DESCRIPTIONS[t] for t in tools[:4] if t in _DESCRIPTIONS)
                    + "?"
                ),
            )
        elif score < MIN_SCORE or intent in CHAT_INTENTS or _too_close(ranked, route):
            return Decision("clarify", text=self._not_sure(ranked, tools))
        return self._fill(intent, ents, state, catalog, tools, follow_up=follow_up)

    def _fill(
        self,
        intent: str,
        ents: Entities,
        state: ConversationState,
        catalog: CatalogView,
        tools: list[str],
        *,
        follow_up: bool = False,
    ) -> Decision:
        request = Request(ents, state, catalog, follow_up, self.warehouse_dialect)
        filled = PIPELINE_FILLERS[intent](request) if intent in PIPELINE_FILLERS else fill(intent, request)
        if isinstance(filled, Missing):
            return Decision("clarify", text=filled.question, pending=intent)
        assert isinstance(filled, Filled)
        if intent not in tools or any(step.tool not in tools for step in filled.steps):
            return Decision(intent, filled.args, text=replies.unavailable(intent, tools))
        calls = filled.steps if filled.parallel else filled.steps[:1]
        return Decision(intent, filled.args, calls=calls, plan=filled.steps)

    def _repeated_intent(self, ents: Entities, state: ConversationState) -> str | None:
        """A follow-up repeats the last action; "the same as a table" moves one step along the journey."""
        last = state.last_intent
        lowered = ents.text.lower()
        if last == "infer_schema" and _AS_TABLE.search(lowered):
            return "generate_ddl"
        if last == "generate_ddl" and _FOR_REAL.search(lowered):
            return "load_table"
        return last

    def _resume_clarification(
        self, ents: Entities, history: list[BaseMessage], catalog: CatalogView, tools: list[str]
    ) -> Decision | None:
        """An answer to our clarifying question ("the customers one") completes the request that raised it."""
        if len(history) < 2 or not isinstance(history[-1], AIMessage) or history[-1].tool_calls:
            return None
        if not message_text(history[-1]).rstrip().endswith("?"):
            return None
        names_one = ents.mentions or ents.paths or ents.dialect or ents.target
        names_one = names_one or named_connection(ents.text, catalog.connections)  # "shop" for "which one?"
        if not names_one or ents.content_words > 2:
            return None
        asked = self._decide_turn(history[:-1], catalog, tools)
        if asked.intent != "clarify" or asked.pending is None or asked.entities is None:
            return None
        merged = _merge(asked.entities, ents)
        return self._fill(asked.pending, merged, derive_state(history[:-2]), catalog, tools)

    def _not_sure(self, ranked: list[str], tools: list[str]) -> str:
        options = [i for i in ranked if i in tools][:2]
        described = " or ".join(_DESCRIPTIONS.get(i, i) for i in options)
        return (
            f"I'm not sure what you'd like. Should I {described}? "
            "Name the file, dataset or SQL you mean, e.g. `here is data/orders.csv`."
        )


def _last_named(history: list[BaseMessage], names: list[str]) -> str | None:
    """The dataset a text-only history talked about last (our own questions name candidates: skipped)."""
    for message in reversed(history):
        text = message_text(message)
        if (
            isinstance(message, HumanMessage)
            or isinstance(message, AIMessage)
            and not text.rstrip().endswith("?")
        ):
            named = find_mentions(text, names)
            if named:
                return named[0]
    return None


def _ranked_intents(ents: Entities, route: Route, state: ConversationState) -> list[str]:
    """Similarity order corrected by what the message holds: a path rules out path-less intents, a named
    dataset rules out listing them all, a dialect rules out inspecting; "repeat" needs an earlier action
    and wins for "the same ..." or a short "and/now ..." follow-up."""
    excluded = set(PATHLESS) if ents.paths else set()
    if ents.dialect:  # a target engine is about designing, loading or deploying, not inspecting
        excluded |= {"infer_schema", "list_datasets"}
    if ents.mentions:  # naming one dataset is never a request to list them all
        excluded.add("list_datasets")
    ranked = [i for i, _ in route.scores if i not in excluded]
    leads_on = bool(_LEADS_ON.search(ents.text) or _SAME.search(ents.text))
    if state.last_intent is None or ents.paths and not leads_on:
        ranked.remove("repeat")
    elif _SAME.search(ents.text) or _LEADS_ON.search(ents.text) and ents.content_words <= 2:
        ranked.remove("repeat")
        ranked.insert(0, "repeat")
    return ranked


def _vague(ents: Entities, ranked: list[str], route: Route) -> bool:
    """A dataset named with hardly any other words, no keyword for an action and no clear best match
    ("orders", "do products")."""
    if ents.content_words == 0:
        return True
    intent, runner_up = ranked[0], ranked[1]
    clear_lead = route.score_of(intent) - route.score_of(runner_up) >= VAGUE_MARGIN
    return ents.content_words <= 2 and not (ents.dialect or ents.target or clear_lead or intent in route.cued)


def _too_close(ranked: list[str], route: Route) -> bool:
    """Two different actions equally similar and no keyword for either: asking beats a coin flip."""
    first, second = ranked[0], ranked[1]
    tools = set(TOOL_INTENTS)
    return (
        first in tools
        and second in tools
        and not route.cued & {first, second}
        and route.score_of(first) - route.score_of(second) < MIN_MARGIN
    )


def _merge(first: Entities, answer: Entities) -> Entities:
    """The original request's entities completed by the answer's (the answer wins where both name one)."""
    return Entities(
        text=f"{first.text} {answer.text}",
        paths=answer.paths or first.paths,
        sql=answer.sql or first.sql,
        dialect=answer.dialect or first.dialect,
        mentions=answer.mentions or first.mentions,
        target=answer.target or first.target,
        replace=answer.replace or first.replace,
        limit=answer.limit or first.limit,
        table_mode=first.table_mode or answer.table_mode,
        normalized=first.normalized,
    )
