"""Named connections: from ETLA_CONNECTIONS and stored per tenant in the catalog (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError, WarehouseError
from etl_assistant.pipelines.connections import (
    ConnectionStore,
    add_connection,
    list_connections,
    name_from_url,
    redact_text,
    redact_url,
    remove_connection,
    resolve_connection,
    url_kind,
)
from etl_assistant.tools.base import ToolContext
from etl_assistant.warehouse.catalog import Catalog
from tests.support.postgres import pg_schema, schema_url  # noqa: F401 - pytest fixture

PASSWORD = "s3cr3t-Pa55"
_counter = iter(range(1_000_000))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog(request, tmp_path) -> Catalog:
    if request.param == "sqlite":
        return Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    return Catalog(schema_url(request.getfixturevalue("pg_schema")))


def local_db(tmp_path, name: str) -> str:
    """A sqlite:/// URL of an (empty) SQLite file under the test's allowed folder."""
    path = tmp_path / name
    path.touch()
    return f"sqlite:///{path}"


def context(catalog: Catalog, tmp_path, tenant: str | None = None, **connections: str) -> ToolContext:
    settings = Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path], _env_file=None,
                        connections={k: SecretStr(v) for k, v in connections.items()})
    return ToolContext(settings=settings, tenant=tenant or f"t{next(_counter)}",
                       _overrides={"catalog": catalog})


def test_configured_and_stored_connections_resolve_by_name(catalog: Catalog, tmp_path) -> None:
    ctx = context(catalog, tmp_path, shop="postgresql://postgres@127.0.0.1:5432/shop")
    added, created = add_connection(ctx, None, f"postgresql://etl:{PASSWORD}@db.internal:5432/sales")
    assert (added.name, added.kind, created) == ("sales", "postgresql", True)
    assert [(c.name, c.origin) for c in list_connections(ctx)] == [("sales", "catalog"), ("shop", "settings")]
    sales = resolve_connection(ctx, "SALES")  # names are case-insensitive for people
    assert sales.url == f"postgresql://etl:{PASSWORD}@db.internal:5432/sales"
    assert sales.redacted == "postgresql://etl:***@db.internal:5432/sales"
    assert PASSWORD not in repr(sales) and PASSWORD not in str(sales)
    assert resolve_connection(ctx, "shop").kind == "postgresql"


def test_adding_again_replaces_the_url(catalog: Catalog, tmp_path) -> None:
    ctx = context(catalog, tmp_path)
    add_connection(ctx, "wh", "clickhouse://default:@127.0.0.1:8123/default")
    (tmp_path / "elsewhere").mkdir()
    replaced, created = add_connection(ctx, "wh", f"chdb://{tmp_path / 'elsewhere'}")
    assert not created and replaced.kind == "chdb"
    assert resolve_connection(ctx, "wh").url == f"chdb://{tmp_path / 'elsewhere'}"


def test_connections_belong_to_their_tenant(catalog: Catalog, tmp_path) -> None:
    mine = context(catalog, tmp_path)
    theirs = context(catalog, tmp_path)
    add_connection(mine, "shop", local_db(tmp_path, "shop.db"))
    assert [c.name for c in list_connections(theirs)] == []
    with pytest.raises(ToolError, match="no connection named 'shop'"):
        resolve_connection(theirs, "shop")


def test_unknown_name_lists_known_names_without_secrets(catalog: Catalog, tmp_path) -> None:
    ctx = context(catalog, tmp_path, shop=f"postgresql://admin:{PASSWORD}@127.0.0.1/shop")
    add_connection(ctx, "crm", f"clickhouse://u:{PASSWORD}@ch:8123/crm")
    with pytest.raises(ToolError) as raised:
        resolve_connection(ctx, "nope")
    assert "known: crm, shop" in str(raised.value)
    assert PASSWORD not in str(raised.value) and "://" not in str(raised.value)


def test_remove_forgets_stored_ones_only(catalog: Catalog, tmp_path) -> None:
    ctx = context(catalog, tmp_path, shop="postgresql://postgres@127.0.0.1/shop")
    add_connection(ctx, "crm", local_db(tmp_path, "crm.db"))
    assert remove_connection(ctx, "crm").name == "crm"
    assert [c.name for c in list_connections(ctx)] == ["shop"]
    with pytest.raises(ToolError, match="comes from ETLA_CONNECTIONS"):
        remove_connection(ctx, "shop")
    with pytest.raises(ToolError, match="no connection named 'crm'"):
        remove_connection(ctx, "crm")


def test_a_configured_name_cannot_be_overwritten(catalog: Catalog, tmp_path) -> None:
    ctx = context(catalog, tmp_path, shop="postgresql://postgres@127.0.0.1/shop")
    with pytest.raises(ToolError, match="configured by the server"):
        add_connection(ctx, "shop", local_db(tmp_path, "other.db"))


def test_bad_urls_and_names_are_one_sentence(tmp_path) -> None:
    ctx = context(Catalog(f"sqlite:///{tmp_path / 'c.db'}"), tmp_path)
    with pytest.raises(ToolError, match="scheme 'mysql'") as raised:
        add_connection(ctx, "x", f"mysql://root:{PASSWORD}@h/db")
    assert PASSWORD not in str(raised.value)
    with pytest.raises(ToolError, match="not allowed"):
        add_connection(ctx, "1 bad name", local_db(tmp_path, "a.db"))


def test_a_local_database_must_exist_in_an_allowed_folder(tmp_path) -> None:
    ctx = context(Catalog(f"sqlite:///{tmp_path / 'c.db'}"), tmp_path)
    with pytest.raises(ToolError, match="/etc/passwd is outside the allowed folders"):
        add_connection(ctx, "x", "sqlite:////etc/passwd")
    with pytest.raises(ToolError, match="There is no SQLite file at"):
        add_connection(ctx, "x", f"sqlite:///{tmp_path / 'missing.db'}")
    with pytest.raises(ToolError, match="There is no chDB directory at"):
        add_connection(ctx, "x", f"chdb://{tmp_path / 'nowhere'}")
    assert not (tmp_path / "nowhere").exists() and list_connections(ctx) == []


@pytest.mark.parametrize(("url", "shown"), [
    (f"postgresql://etl:{PASSWORD}@h:5432/db", "postgresql://etl:***@h:5432/db"),
    (f"postgresql://h/db?sslmode=require&password={PASSWORD}", "postgresql://h/db?sslmode=require&password=***"),
    (f"clickhouses://default:{PASSWORD}@ch.example:8443/x", "clickhouses://default:***@ch.example:8443/x"),
    ("postgresql://postgres@127.0.0.1:5432/shop", "postgresql://postgres@127.0.0.1:5432/shop"),
    ("chdb:///srv/warehouse", "chdb:///srv/warehouse"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_masks_every_url_in_a_sentence() -> None:
    text = f"connect to postgresql://me:{PASSWORD}@db/sales and clickhouse://u:{PASSWORD}@ch/x now"
    assert redact_text(text) == "connect to postgresql://me:***@db/sales and clickhouse://u:***@ch/x now"


@pytest.mark.parametrize(("url", "name", "kind"), [
    ("postgresql://u:p@db.example.com:5432/shop", "shop", "postgresql"),
    ("postgres://u@h", "h", "postgresql"),
    ("clickhouse://default@127.0.0.1:8123/analytics", "analytics", "clickhouse"),
    ("sqlite:////var/data/my-store.sqlite", "my_store", "sqlite"),
    ("chdb:///srv/2024", "db_2024", "chdb"),
])
def test_name_and_kind_from_url(url: str, name: str, kind: str) -> None:
    assert (name_from_url(url), url_kind(url)) == (name, kind)


def test_etla_connections_is_a_json_object_of_secrets(monkeypatch) -> None:
    monkeypatch.setenv("ETLA_CONNECTIONS", f'{{"shop": "postgresql://etl:{PASSWORD}@127.0.0.1:5432/shop"}}')
    settings = Settings(_env_file=None)
    assert settings.connections["shop"].get_secret_value().endswith("/shop")
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.model_dump_json()


def test_stored_urls_are_encrypted_with_the_key(tmp_path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'c.db'}")
    key = Fernet.generate_key().decode()
    ctx = context(catalog, tmp_path, tenant="sealed")
    plain = local_db(tmp_path, "before-the-key.db")
    add_connection(ctx, "plain", plain)
    ctx.settings = ctx.settings.model_copy(update={"connections_key": SecretStr(key)})
    url = f"postgresql://etl:{PASSWORD}@db:5432/sales"
    add_connection(ctx, "sales", url)
    stored = dict(ConnectionStore(catalog).list("sealed"))
    assert stored["sales"].startswith("fernet:") and PASSWORD not in stored["sales"]
    assert stored["plain"] == plain
    assert resolve_connection(ctx, "sales").url == url
    other_key = Fernet.generate_key().decode()
    ctx.settings = ctx.settings.model_copy(update={"connections_key": SecretStr(other_key)})
    with pytest.raises(WarehouseError, match="cannot be decrypted with ETLA_CONNECTIONS_KEY"):
        resolve_connection(ctx, "sales")
    assert resolve_connection(ctx, "plain").kind == "sqlite"  # the others stay usable
    ctx.settings = ctx.settings.model_copy(update={"connections_key": None})
    with pytest.raises(WarehouseError, match="stored encrypted; set ETLA_CONNECTIONS_KEY"):
        list_connections(ctx)
    ctx.settings = ctx.settings.model_copy(update={"connections_key": SecretStr("not-a-key")})
    with pytest.raises(WarehouseError, match="is not a Fernet key"):
        add_connection(ctx, "other", url)
