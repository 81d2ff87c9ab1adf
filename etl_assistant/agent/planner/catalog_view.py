"""What the planner knows of the tenant's catalog: dataset names, their columns and the warehouse tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import lru_cache

from etl_assistant.config import Settings
from etl_assistant.errors import EtlError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str = ""
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogView:
    datasets: tuple[DatasetInfo, ...] = ()
    tables: tuple[str, ...] = ()
    connections: tuple[str, ...] = ()  # names of the database connections the tenant may use
    pipelines: tuple[str, ...] = ()  # the tenant's pipeline names
    connection_kinds: tuple[tuple[str, str], ...] = ()  # (name, engine kind) of those connections

    @property
    def dataset_names(self) -> list[str]:
        return [d.name for d in self.datasets]

    def dataset(self, name: str) -> DatasetInfo | None:
        return next((d for d in self.datasets if d.name.lower() == name.lower()), None)

    def datasets_with_columns(self, words: set[str]) -> list[str]:
        """Datasets ranked by how many of `words` are their column names (for "revenue per region")."""
        hits = [(sum(1 for c in d.columns if c.lower() in words), d.name) for d in self.datasets]
        best = max((h for h, _ in hits), default=0)
        return [name for h, name in hits if h == best and best > 0]


@lru_cache(maxsize=8)
def _catalog(url: str):  # noqa: ANN202 - Catalog is imported lazily to keep the planner importable alone
    from etl_assistant.warehouse.catalog import Catalog

    return Catalog(url)


def read_catalog(url: str, tenant: str, configured_connections: tuple[str, ...] = ()) -> CatalogView:
    """The tenant's datasets, tables and connections (`configured_connections`: ETLA_CONNECTIONS' names); an
    unreachable catalog reads as empty (the planner then asks)."""
    from etl_assistant.pipelines.connections import ConnectionStore

    try:
        catalog = _catalog(url)
        datasets = tuple(
            DatasetInfo(name=s.name, source=s.source, columns=tuple(c.identifier for c in s.columns))
            for s in catalog.list_datasets(tenant)
        )
        tables = tuple(t.table for t in catalog.list_tables(tenant))
        stored = tuple(name for name, _ in ConnectionStore(catalog).list(tenant))
    except EtlError as exc:
        log.warning("planner could not read the catalog: %s", exc)
        return CatalogView(connections=configured_connections)
    connections = tuple(dict.fromkeys((*configured_connections, *stored)))
    return CatalogView(datasets=datasets, tables=tables, connections=connections)


def with_pipelines(view: CatalogView, settings: Settings, tenant: str) -> CatalogView:
    """The view plus the tenant's pipelines and its connections' engine kinds; unreadable -> as it was."""
    from etl_assistant.pipelines.connections import list_connections
    from etl_assistant.pipelines.store import PipelineStore
    from etl_assistant.tools.base import ToolContext

    try:
        catalog = _catalog(settings.resolved_catalog_url)
        pipelines = tuple(spec.name for spec in PipelineStore(catalog).list(tenant))
        ctx = ToolContext(settings=settings, tenant=tenant, _overrides={"catalog": catalog})
        kinds = tuple((c.name, c.kind) for c in list_connections(ctx))
    except EtlError as exc:
        log.warning("planner could not read pipelines or connections: %s", exc)
        return view
    return replace(view, pipelines=pipelines, connection_kinds=kinds)


_VIEWS: dict[tuple[str, str, tuple[tuple[str, str], ...]], tuple[int, CatalogView]] = {}
VIEWS_KEPT = 256  # tenants whose view is kept


def planner_view(settings: Settings, tenant: str) -> CatalogView:
    """`read_catalog` + `with_pipelines` for a turn, read again only when the catalog changed since the last
    read (its data version moved: an upload, a load, a new connection or pipeline, from any process), so a
    turn does not pay for a dozen catalog queries when nothing changed. A catalog that cannot say (PostgreSQL)
    is read every time."""
    url, connections = settings.resolved_catalog_url, tuple(settings.connections)
    try:
        version = _catalog(url).data_version()
    except EtlError:
        version = None
    configured = tuple(sorted((name, s.get_secret_value()) for name, s in settings.connections.items()))
    key = (url, tenant, configured)  # the configured connections' URLs give their engine kinds
    kept = _VIEWS.get(key)
    if version is not None and kept is not None and kept[0] == version:
        return kept[1]
    view = with_pipelines(read_catalog(url, tenant, connections), settings, tenant)
    if version is not None:
        if len(_VIEWS) >= VIEWS_KEPT:
            _VIEWS.clear()
        _VIEWS[key] = (version, view)
    return view
