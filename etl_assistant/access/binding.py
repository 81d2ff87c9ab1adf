"""Where the server may listen: without any API key it is a single-user tool, so loopback only."""

from __future__ import annotations

from etl_assistant.access.keys import KeyStore
from etl_assistant.access.origin import is_loopback
from etl_assistant.config import Settings
from etl_assistant.errors import EtlError


def check_bind(settings: Settings, keys: KeyStore) -> None:
    """Refuse (one sentence) to listen beyond loopback while no API key exists."""
    if is_loopback(settings.host) or keys.any_active():
        return
    raise EtlError(f"Refusing to listen on {settings.host} without an API key: anyone who can reach it could "
                   "use it; create a key with `etl-assistant keys create --tenant NAME` and start again, "
                   "or serve on 127.0.0.1.")
