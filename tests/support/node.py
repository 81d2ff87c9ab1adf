"""The official JS clients (AI SDK `ai`, `@langchain/langgraph-sdk`) under Node, for protocol tests.

`tests/js/package.json` pins them; `npm ci` installs them into `tests/js/node_modules` (git-ignored) once
and again only when the lock file changed (a stamp file remembers which lock was installed). A machine
without `node` skips these tests with the reason; `.ci/run` installs Debian's nodejs and npm.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parents[1] / "js"
STAMP = JS_DIR / "node_modules" / ".installed-lock"
INSTALL_TIMEOUT_S = 600


def _lock_digest() -> str:
    return hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()


def require_node() -> str:
    """The node executable with the pinned packages installed, or a skip that says what is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed (apt-get install nodejs npm); .ci/run installs them")
    digest = _lock_digest()
    if not STAMP.is_file() or STAMP.read_text() != digest:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR,
                              capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci in {JS_DIR} failed: {done.stderr.strip()[-2000:]}")
        STAMP.write_text(digest)
    return node


def run_node(script: str, *args: str, timeout: float = 180) -> Any:
    """Run tests/js/<script> with `args`; its last stdout line is JSON, returned parsed."""
    node = require_node()
    done = subprocess.run([node, str(JS_DIR / script), *args], cwd=JS_DIR, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"node {script} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
