"""pytest plugin: no test reaches a remote model (or anything else off this machine).

Registered from tests/conftest.py. Every socket connection and name lookup must stay on the loopback
interface, so an OpenAI-compatible client pointed at a real endpoint fails at once instead of spending money
or time; local engines (PostgreSQL, Redis, ClickHouse fakes, our own test servers) are on 127.0.0.1 and
unaffected. LLM settings from the developer's environment are removed for every test.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

LLM_ENV = (
    "ETLA_MODEL",
    "ETLA_LLM_BASE_URL",
    "ETLA_LLM_API_KEY",
    "ETLA_LLM_MODEL",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_MODEL",
)
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlocked(OSError):
    """A test tried to reach beyond this machine."""


def is_local(host: Any) -> bool:
    if host is None:
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    if text.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
        raise NetworkBlocked(
            f"Tests may not reach {address[0]}: only 127.0.0.1/::1 are allowed "
            "(use tests/support/openai_fake.py for a model)."
        )


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_local(host):
        raise NetworkBlocked(f"Tests may not resolve {host!r}: only local names are allowed.")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _block_network() -> Iterator[None]:
    patch = pytest.MonkeyPatch()
    patch.setattr(socket.socket, "connect", _guarded_connect)
    patch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    patch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    try:
        yield
    finally:
        patch.undo()


@pytest.fixture(autouse=True)
def _no_llm_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)
