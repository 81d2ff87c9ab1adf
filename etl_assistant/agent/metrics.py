"""Prometheus metrics of runs and tool calls; a registry per AgentService keeps apps in one process apart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class RunMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.runs = Counter(
            "etla_runs_total", "Agent runs by final status.", ["status"], registry=self.registry
        )
        self.tool_calls = Counter(
            "etla_tool_calls_total",
            "Tool calls by tool name and status.",
            ["tool", "status"],
            registry=self.registry,
        )
        self.run_latency = Histogram(
            "etla_run_latency_seconds",
            "Wall time of one agent run (one turn).",
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
