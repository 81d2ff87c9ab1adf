"""The offline planner: intent routing, argument filling and reply writing behind `OfflinePlanner`."""

from etl_assistant.agent.planner.catalog_view import CatalogView, DatasetInfo, read_catalog
from etl_assistant.agent.planner.planner import TOOL_INTENTS, Decision, Planner
from etl_assistant.agent.planner.router import shared_router

__all__ = [
    "TOOL_INTENTS",
    "CatalogView",
    "DatasetInfo",
    "Decision",
    "Planner",
    "read_catalog",
    "shared_router",
]
