"""The first ten minutes on the chat page, as a person does them, in headless Chromium (Debian's
/usr/bin/chromium via Playwright) against the shipped app (offline planner, real tools, chDB, SQLite) under
uvicorn on 127.0.0.1: upload -> ask -> the chart is drawn -> table view -> follow-up -> deploy, approve -> the
result. Screenshots go to /tmp/etla-journey-*.png and the chart's canvas is checked for drawn pixels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from etl_assistant.config import Settings
from etl_assistant.server import create_app
from tests.support.live_server import LiveServer, live_server
from tests.test_web_page import CHROMIUM, ask, browser, page, wait_until_idle  # noqa: F401 - shared fixtures

SHOTS = Path("/tmp")
REGIONS = ("north", "south", "east", "west", "centre")
ORDERS = "order_id,region,amount,ordered_at\n" + "\n".join(
    f"{i},{REGIONS[i % 5]},{(i * 37) % 1000 + 1000 + (i % 9) * 0.11:.2f},"
    f"{2023 + i % 2}-{1 + i % 12:02d}-{1 + i % 27:02d}"
    for i in range(1, 401)
) + "\n"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at "
                       "/usr/bin/chromium (apt-get install chromium); CI installs it"),
]

# Pixels of the chart canvas that are not the background: a blank (or failed) chart has none.
DRAWN_PIXELS = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && (data[i] < 235 || data[i + 1] < 235 || data[i + 2] < 235)) drawn++;
  }
  return drawn;
}"""


def totals(year: int) -> list[tuple[str, float]]:
    sums: dict[str, float] = defaultdict(float)
    for line in ORDERS.splitlines()[1:]:
        _, region, amount, day = line.split(",")
        if day.startswith(str(year)):
            sums[region] += float(amount)
    return sorted(sums.items(), key=lambda kv: kv[1], reverse=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(create_app(Settings(data_dir=tmp_path / "data", allowed_roots=[tmp_path],
                                         _env_file=None))) as running:
        yield running


def shown(value: float) -> str:
    """How the page writes a number: 51,014.80 (or 12,345 when whole)."""
    value = round(value, 2)
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"


def chart_is_drawn(view: Page, card_index: int) -> int:
    card = view.locator(".chart-card").nth(card_index)
    canvas = card.locator(".chart-view canvas")
    canvas.wait_for(state="visible")
    return canvas.evaluate(DRAWN_PIXELS)


def test_upload_ask_chart_follow_up_deploy(server: LiveServer, page: Page, tmp_path: Path):  # noqa: F811
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(ORDERS)
    page.goto(server.url + "/")
    page.set_input_files("#file-input", str(csv_file))
    page.wait_for_selector(".msg.human >> text=I uploaded orders.csv")
    wait_until_idle(page)
    page.wait_for_selector(".dataset-name >> text=orders")
    assert "/uploads/" not in page.inner_text("body"), "the upload card shows no server path"
    step = page.locator(".tool-step.done").last
    assert step.locator(".tool-name").inner_text() == "inspect the file"
    assert step.locator(".tool-args").inner_text() == "(orders.csv)"

    ask(page, "top 3 regions by revenue in 2024")
    reply = page.locator(".msg.ai").last.inner_text()
    assert "I loaded your file into the warehouse first: orders (400 rows)." in reply
    expected = totals(2024)[:3]
    top = shown(expected[0][1])
    assert top in reply and "," in top and "." in top, "numbers are formatted (51,014.80)"
    assert "revenue" in page.locator(".msg.ai table").last.locator("th").all_inner_texts()
    assert chart_is_drawn(page, 0) > 500, "the chart canvas is blank"
    page.locator(".chart-card").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "etla-journey-chart.png"))

    card = page.locator(".chart-card").first
    card.locator("button.toggle >> text=Table").click()
    assert card.locator(".chart-view").is_hidden()
    rows = [r.locator("td").all_inner_texts() for r in card.locator(".chart-table tbody tr").all()]
    assert rows == [[region, shown(total)] for region, total in expected]
    assert card.locator(".chart-table th").all_inner_texts() == ["region", "revenue"]
    card.locator("button.toggle >> text=Chart").click()
    assert card.locator(".chart-view").is_visible() and card.locator(".chart-table").is_hidden()

    ask(page, "and in 2023?")
    assert page.locator(".chart-card").count() == 2
    assert chart_is_drawn(page, 1) > 500
    labels = page.locator(".tool-step .tool-args").all_inner_texts()
    assert not [text for text in labels if "previous" in text or "{" in text], labels
    assert page.locator(".tool-step .tool-name >> text=answer the question").count() == 2

    page.wait_for_selector("#tables .dataset-name >> text=orders")
    assert "400 rows" in page.inner_text("#tables")

    ask(page, "daily revenue per region as a datamart")
    ask(page, "deploy it")
    page.wait_for_selector(".approval")
    page.screenshot(path=str(SHOTS / "etla-journey-approval.png"))
    assert "daily_revenue" in page.input_value(".approval-args")
    page.click(".approval .approve")
    wait_until_idle(page)
    page.wait_for_selector(".approval", state="detached")
    result = page.locator(".msg.ai").last.inner_text()
    assert "create datamart" in result and "daily_revenue" in result
    assert page.locator(".tool-step.done .tool-name >> text=deploy").count() >= 1
    page.click("#refresh-datasets")
    page.wait_for_selector("#datamarts .dataset-meta >> text=deployed")
    page.screenshot(path=str(SHOTS / "etla-journey-deployed.png"), full_page=True)
    for shot in ("chart", "approval", "deployed"):
        assert (SHOTS / f"etla-journey-{shot}.png").stat().st_size > 20_000
