"""Shared fixtures (keep small): settings whose allowed roots and data dir live in the test's temp dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_assistant.config import Settings

pytest_plugins = ["tests.support.no_network_models"]  # tests never reach a remote model (or host)


@pytest.fixture
def local_settings(tmp_path: Path) -> Settings:
    """Settings that read files only under tmp_path and keep catalog/warehouse in tmp_path/data."""
    return Settings(allowed_roots=[tmp_path], data_dir=tmp_path / "data", _env_file=None)
