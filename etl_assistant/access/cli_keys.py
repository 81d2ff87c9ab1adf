"""`etl-assistant keys create|list|revoke`: API keys of tenants, in the configured catalog."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from etl_assistant.access.keys import KeyStore
from etl_assistant.config import get_settings
from etl_assistant.errors import EtlError

keys_app = typer.Typer(no_args_is_help=True, help="API keys: each maps its holder to one tenant.")
out = Console()
err = Console(stderr=True)
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant the key acts for.")]


def _store() -> KeyStore:
    from etl_assistant.warehouse.catalog import Catalog

    return KeyStore(Catalog(get_settings().resolved_catalog_url))


def _fail(exc: EtlError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2)


@keys_app.command("create")
def create(tenant: TenantOption,
           name: Annotated[str, typer.Option(help="A label to tell keys apart.")] = "") -> None:
    """Create a key for a tenant and print it once (only its hash is stored)."""
    try:
        record, key = _store().create(tenant, name)
    except EtlError as exc:
        raise _fail(exc) from None
    err.print(f"Created key {record.prefix}… for tenant {tenant}. It is shown once; store it now:")
    out.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's keys.")] = None
              ) -> None:
    """List keys by prefix (never the keys themselves)."""
    try:
        records = _store().list(tenant)
    except EtlError as exc:
        raise _fail(exc) from None
    table = Table("prefix", "tenant", "name", "created", "status")
    for r in records:
        table.add_row(r.prefix, r.tenant, r.name, r.created_at.strftime("%Y-%m-%d %H:%M"),
                      "active" if r.active else f"revoked {r.revoked_at:%Y-%m-%d %H:%M}")
    out.print(table)


@keys_app.command("revoke")
def revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix as listed (or the whole key).")],
           tenant: TenantOption) -> None:
    """Revoke a tenant's key; requests with it get 401 from then on."""
    try:
        record = _store().revoke(prefix, tenant)
    except EtlError as exc:
        raise _fail(exc) from None
    out.print(f"Revoked key {record.prefix}… of tenant {record.tenant}.")
