"""The built-in chat page in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's Python API)
against a real uvicorn server on 127.0.0.1 with a temp data dir.

1. The shipped app (offline planner, real tools, chDB, SQLite): upload a CSV through the page, ask for its
   schema, and read the rendered HTML table; the page screenshot goes to /tmp/etla-page.png. Load it, ask a
   question, click 👍 under the answer: "saved", and the same question is answered with the verified SQL.
2. The scripted test model (standing in for a remote LLM) with its real small tools: progress bars while a
   tool runs, the approval card, Approve runs the tool once; markdown rendered safely (no HTML injection).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.support.scripted_model import ScriptedChatModel, audit_rows, scripted_tools

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path("/tmp/etla-page.png")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ORDERS = "order_id,region,amount,ordered_at\n" + "\n".join(
    f"{i},{('north', 'south', 'east', 'west')[i % 4]},{i * 3.25:.2f},2024-05-{1 + i % 28:02d}"
    for i in range(1, 61)
) + "\n"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at "
                       "/usr/bin/chromium (apt-get install chromium); CI installs it"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, timeout=60_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


def wait_until_idle(page: Page) -> None:
    """A run is over when Send is back (Stop hidden) and nothing is 'thinking'."""
    page.wait_for_selector("#send:not([hidden])")
    page.wait_for_selector(".typing", state="detached")


def ask(page: Page, text: str) -> None:
    """Send `text` and wait for its run to end. Sending shows the message and hides Send synchronously, so
    Send coming back means this run ended (a fast run can end before Stop is ever seen: not waited for)."""
    before = page.locator(".msg.human").count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    page.wait_for_function("n => document.querySelectorAll('.msg.human').length > n", arg=before,
                           timeout=10_000)
    wait_until_idle(page)


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("web_page")
    with live_server(create_app(Settings(data_dir=root / "data", allowed_roots=[root], _env_file=None))) as s:
        yield s


def test_upload_then_schema_question_renders_a_table(shipped_server: LiveServer, page: Page,
                                                       tmp_path: Path):
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(ORDERS)
    page.goto(shipped_server.url + "/")
    assert page.title() == "etl-assistant"
    assert page.is_visible("#welcome")

    page.set_input_files("#file-input", str(csv_file))
    page.wait_for_selector(".msg.human >> text=I uploaded orders.csv")
    wait_until_idle(page)
    page.wait_for_selector(".dataset-name >> text=orders")
    assert "60 rows" in page.inner_text(".dataset-meta")

    ask(page, "Show me the schema of orders")
    table = page.locator(".msg.ai table").last
    assert table.locator("th").all_inner_texts()[:3] == ["column", "type", "nullable"]
    rows = [row.locator("td").all_inner_texts() for row in table.locator("tbody tr").all()]
    by_column = {cells[0]: cells[1] for cells in rows}
    assert by_column == {"order_id": "integer", "region": "string", "amount": "decimal",
                         "ordered_at": "date"}, by_column
    assert table.locator("td code").first.inner_text() == "order_id"  # inline code, not literal backticks
    assert page.locator(".tool-step.done .tool-name").all_inner_texts()
    assert not page.is_visible("#welcome")

    ask(page, "Make a ClickHouse table for orders")
    code = page.locator(".msg.ai .code-block code").last
    assert "CREATE TABLE" in code.inner_text() and code.get_attribute("data-lang") == "sql"
    page.locator(".msg.ai table").last.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert SCREENSHOT.stat().st_size > 10_000

    # A reload restores the conversation from the server (thread id kept in localStorage).
    page.reload()
    page.wait_for_selector(".msg.ai table")
    assert page.locator(".msg.human").count() == 3

    page.click("#new-chat")
    assert page.is_visible("#welcome") and page.locator(".msg").count() == 0
    assert page.evaluate("localStorage.getItem('etla.thread')") is None


def test_thumbs_up_saves_an_answer_and_the_question_reuses_it(shipped_server: LiveServer, page: Page,
                                                              tmp_path: Path):
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(ORDERS)
    page.goto(shipped_server.url + "/")
    page.click("#new-chat")
    page.set_input_files("#file-input", str(csv_file))
    page.wait_for_selector(".msg.human >> text=I uploaded orders.csv")
    wait_until_idle(page)
    ask(page, "load orders")
    page.wait_for_selector(".msg.ai >> text=Loaded")
    assert page.locator(".verify-button").count() == 0, "only answers to questions get a thumbs-up"

    ask(page, "total amount per region")
    answer = page.locator(".msg.ai").last
    assert answer.locator("table").count() == 1
    answer.locator(".verify-button").click()
    saved = answer.locator(".verify-saved")
    saved.wait_for()
    assert "saved" in saved.inner_text() and answer.locator(".verify-button").count() == 0
    pairs = httpx.get(shipped_server.url + "/v1/verified", timeout=30).json()["pairs"]
    assert [p["question"] for p in pairs] == ["total amount per region"]

    ask(page, "total amount per region")
    assert "(Answered with the SQL you verified earlier.)" in page.locator(".msg.ai").last.inner_text()
    page.reload()  # a restored thread shows the button again for answers (saving twice replaces the pair)
    page.wait_for_selector(".msg.ai table")
    assert page.locator(".verify-button").count() == 2


@pytest.fixture
def scripted_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    audit = tmp_path / "audit.db"
    app = create_app(Settings(data_dir=tmp_path / "data", _env_file=None), model=ScriptedChatModel(),
                     tools=scripted_tools(audit))
    with live_server(app) as running:
        yield running, audit


def test_progress_approval_upload_error_and_safe_markdown(
        scripted_server: tuple[LiveServer, Path], page: Page, tmp_path: Path):
    server, audit = scripted_server
    page.goto(server.url + "/")

    page.fill("#input", "slow 30")
    page.press("#input", "Enter")
    bar = page.wait_for_selector(".tool-step.running .tool-progress progress")
    assert bar.get_attribute("max") == "30"
    assert "sleeping" in page.inner_text(".tool-progress-label")
    wait_until_idle(page)
    assert page.locator(".tool-step.done .tool-name").last.inner_text() == "sleepy"
    assert page.locator(".tool-progress").count() == 0

    ask(page, "record apples")
    card = page.wait_for_selector(".approval")
    assert "record_row" in card.inner_text()
    assert '"value": "apples"' in page.input_value(".approval-args")
    assert audit_rows(audit) == []
    page.click(".approval .approve")
    wait_until_idle(page)
    page.wait_for_selector(".approval", state="detached")
    assert audit_rows(audit) == [("apples", "default")]
    assert "Result:" in page.locator(".msg.ai").last.inner_text()

    ask(page, "record plums")
    page.fill(".approval-args", '{"value": "edited plums"}')
    page.click(".approval .approve")
    wait_until_idle(page)
    assert audit_rows(audit) == [("apples", "default"), ("edited plums", "default")]

    ask(page, "record pears")
    page.fill(".approval-reason", "not today")
    page.click(".approval .reject")
    wait_until_idle(page)
    assert "not today" in page.locator(".msg.ai").last.inner_text()
    assert audit_rows(audit) == [("apples", "default"), ("edited plums", "default")]

    picture = tmp_path / "picture.csv"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    page.set_input_files("#file-input", str(picture))
    error = page.wait_for_selector(".msg.error")
    assert "picture.csv looks like a binary file" in error.inner_text()
    assert page.is_visible("#datasets-empty"), "a refused upload registers nothing"

    ask(page, "<img src=x onerror=alert(1)> **bold** `code`")
    last = page.locator(".msg.ai").last
    assert last.locator("img").count() == 0 and "<img src=x onerror=alert(1)>" in last.inner_text()
    assert last.locator("strong").inner_text() == "bold" and last.locator("code").inner_text() == "code"
    human = page.locator(".msg.human").last
    assert human.locator("img").count() == 0


def test_page_assets_are_served_with_a_strict_policy(shipped_server: LiveServer):
    index = httpx.get(shipped_server.url + "/", timeout=30)
    assert index.status_code == 200 and "script-src 'self'" in index.headers["content-security-policy"]
    assert "http" not in index.text.replace('http-equiv', ''), "the page loads nothing from other origins"
    assert httpx.get(shipped_server.url + "/web/app.js", timeout=30).headers["content-type"].startswith(
        "text/javascript")
    assert httpx.get(shipped_server.url + "/web/../server.py", timeout=30).status_code == 404
    assert httpx.get(shipped_server.url + "/web/index.html.bak", timeout=30).status_code == 404
