"""The chat page on a server with API keys, in headless Chromium (Debian's /usr/bin/chromium via Playwright)
against a real uvicorn server on 127.0.0.1: the page asks for a key when the server answers 401, keeps it in
sessionStorage (not localStorage), sends it on every request and upload, and asks again for a wrong key. The
chat model is the scripted test model standing in for a remote LLM, with its small real tools."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from etl_assistant.access.keys import KeyStore
from etl_assistant.config import Settings
from etl_assistant.server import create_app
from etl_assistant.warehouse.catalog import Catalog
from tests.support.access_env import orders_csv, upload
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, scripted_tools
from tests.test_web_page import CHROMIUM, LAUNCH_ARGS, ask

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at "
                       "/usr/bin/chromium (apt-get install chromium); CI installs it"),
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, timeout=60_000)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, Path]]:
    root = tmp_path_factory.mktemp("web_keys")
    settings = Settings(data_dir=root / "data", allowed_roots=[root], _env_file=None)
    key = KeyStore(Catalog(settings.resolved_catalog_url)).create("acme", "browser")[1]
    app = create_app(settings, model=ScriptedChatModel(), tools=scripted_tools(root / "audit.db"))
    with live_server(app) as server:
        import httpx

        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            assert upload(http, "acme_orders.csv", orders_csv(5)).status_code == 201
        yield server, key, root


def enter_key(page: Page, key: str) -> None:
    page.wait_for_selector("#key-dialog[open]")
    page.fill("#key-input", key)
    page.click("#key-submit")


def test_the_page_asks_for_a_key_and_keeps_it_for_the_session(keyed: tuple[LiveServer, str, Path],
                                                              tab: Page, tmp_path: Path) -> None:
    server, key, root = keyed
    page = tab
    page.goto(server.url)
    page.wait_for_selector("#key-dialog[open]")
    assert "Authorization: Bearer" in page.inner_text("#key-reason")
    enter_key(page, "etla_wrong-key")
    page.wait_for_function(  # the wrong key got a 401: asked again, with the server's sentence
        "() => document.querySelector('#key-dialog').open"
        " && document.querySelector('#key-reason').textContent.includes('unknown or revoked')")
    enter_key(page, key)
    page.wait_for_selector(".dataset-name:text('acme_orders')")
    assert page.evaluate("sessionStorage.getItem('etla.api-key')") == key
    assert key not in page.evaluate("JSON.stringify(localStorage)")
    ask(page, "echo hello with a key")
    assert "hello with a key" in page.inner_text("#messages")
    file = tmp_path / "page_upload.csv"
    file.write_text(orders_csv(3))
    page.set_input_files("#file-input", str(file))
    page.wait_for_selector(".dataset-name:text('page_upload')")
    assert (root / "data" / "uploads" / "acme" / "page_upload.csv").exists()
    page.reload()
    page.wait_for_selector(".dataset-name:text('acme_orders')")
    assert page.locator("#key-dialog[open]").count() == 0  # the same session: no second prompt
