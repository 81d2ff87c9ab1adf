"""Charts as images for channels that show text: an `ask` answer's Vega-Lite spec as a PNG made on the server.

`vl-convert-python` (Vega and Vega-Lite compiled in, no browser, no network) turns the spec into a PNG. The
OpenAI-compatible reply carries it inline as a markdown image with a `data:` URL: Open WebUI and LibreChat
render markdown images, and an inline image needs no second request, so it works behind API keys and across
replicas (a served PNG route would need the browser to authenticate). The same spec is rendered once.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from etl_assistant.agent.events import RunEvent

WIDTH = 480  # pixels of the plot area's width: readable in a chat column, ~15-30 KB per PNG
_ALT_CHARS = 80


@lru_cache(maxsize=64)
def _render(spec_json: str) -> bytes:
    import vl_convert  # ~60 MB of compiled Vega; imported when the first chart is drawn

    spec = json.loads(spec_json)
    spec.setdefault("width", WIDTH)
    return vl_convert.vegalite_to_png(spec, scale=1)


def chart_png(spec: dict[str, Any]) -> bytes:
    return _render(json.dumps(spec, sort_keys=True, default=str))


def chart_markdown(spec: dict[str, Any]) -> str:
    """A markdown image of the chart, inline as a data URL; the alt text is the chart's title."""
    title = " ".join(str(spec.get("title") or "chart").split())[:_ALT_CHARS].replace("]", ")")
    data = base64.b64encode(chart_png(spec)).decode()
    return f"![chart: {title}](data:image/png;base64,{data})"


class ChartCollector:
    """The charts of one run's answers, in order (an `ask` result with a chart spec)."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []

    def add(self, event: RunEvent) -> None:
        if event.type != "tool_result" or event.data.get("is_error") or event.data.get("name") != "ask":
            return
        spec = (event.data.get("output") or {}).get("chart")
        if isinstance(spec, dict):
            self.specs.append(spec)

    def markdown(self) -> str:
        """The run's charts as markdown images, each its own paragraph ('' when there are none)."""
        return "".join(f"\n\n{chart_markdown(spec)}\n\n" for spec in self.specs)
