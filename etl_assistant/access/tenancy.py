"""What a tenant's tools may reach: its own warehouse namespace and, for files, only its own uploads.

The tenant named by `ETLA_TENANT` is the operator's (local mode): it keeps `ETLA_ALLOWED_ROOTS` and the
warehouse as configured. Once API keys exist, any other tenant reads files only from `uploads/<tenant>`, so it
can neither read the server's folders nor another tenant's uploads by path. (Without keys there is no other
caller than the operator, whatever tenant a context names.)
"""

from __future__ import annotations

from pathlib import Path

from etl_assistant.config import Settings
from etl_assistant.errors import EtlError


class TenantSettings(Settings):
    """Settings as a key holder's tools see them: files only under `upload_root`."""

    upload_root: Path = Path(".")

    @property
    def resolved_allowed_roots(self) -> list[Path]:
        return [self.upload_root.resolve()]


# (id of the settings, tenant) -> (those settings, their confined copy): one copy per tenant, not per request
_confined: dict[tuple[int, str], tuple[Settings, TenantSettings]] = {}


def is_operator(settings: Settings, tenant: str) -> bool:
    return tenant == settings.tenant


def settings_for(settings: Settings, tenant: str) -> Settings:
    """`settings` confined to the tenant (unchanged for the operator's own tenant)."""
    if is_operator(settings, tenant) or isinstance(settings, TenantSettings) or not keys_exist(settings):
        return settings
    key = (id(settings), tenant)
    made = _confined.get(key)
    if made is None or made[0] is not settings:  # the id of a settings object that is gone may be reused
        values = {name: getattr(settings, name) for name in Settings.model_fields}
        made = (settings, TenantSettings.model_construct(**values, upload_root=uploads_of(settings, tenant)))
        if len(_confined) > 1024:
            _confined.clear()
        _confined[key] = made
    return made[1]


def uploads_of(settings: Settings, tenant: str) -> Path:
    """The tenant's upload folder (the name is a checked tenant name: see access.tenants)."""
    return (settings.uploads_dir / tenant).resolve()


def keys_exist(settings: Settings) -> bool:
    """Does any API key exist? An unreachable catalog counts as yes: confining is the safe side."""
    from etl_assistant.access.keys import key_store

    try:
        return key_store(settings.resolved_catalog_url).any_active()
    except EtlError:
        return True
