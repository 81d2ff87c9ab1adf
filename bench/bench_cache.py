"""The semantic cache: hit latency beside the offline parse path and an LLM call, and its false-hit rate.

    .venv/bin/python bench/bench_cache.py                 # 20,000 orders, 15 timed runs per question

The eval's retail sample (orders, customers, products) is loaded into a fresh chDB warehouse under
bench/out/cache/. Ten questions are verified (their SQL is what the offline parser writes for them, stored
with the verify tool); then 51 probe questions are looked up, each labelled by hand as the same intent as
one verified question (should hit it) or a different one (must not hit: another year, value, number,
direction, negation, aggregate, column or time range). Reported per threshold: our cache (similarity +
literal signature + schema versions) beside embedding similarity alone (the GPTCache/RedisVL way).

Latency, per hit question, p50 in ms, alternating: `ask` answered from the cache (signature, vector lookup,
guard, re-run), the offline `ask` (link, parse, build, guard, run), and the LLM path (`llm_ask`: retrieval,
prompt, a chat completion from a local OpenAI-format fake that answers at once, guard, run). The fake has no
model latency, so the LLM column is a floor: a hosted model adds 0.5-5 s per call. Not a test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support.openai_fake (the local fake)

from etl_assistant.cache.semantic import cached_answer, lookup  # noqa: E402
from etl_assistant.evals.nl2sql import prepare_warehouse  # noqa: E402
from etl_assistant.nl2sql.llm import llm_ask  # noqa: E402
from etl_assistant.nl2sql.service import ask, translate  # noqa: E402
from etl_assistant.retrieval.store import embed_texts  # noqa: E402
from etl_assistant.tools import ToolContext, get_tool  # noqa: E402
from tests.support.openai_fake import Reply, openai_fake  # noqa: E402

TODAY = date(2024, 12, 20)
VERIFIED = [
    "total revenue in 2024",
    "revenue by region",
    "number of orders per channel",
    "top 5 customers by revenue",
    "average order value for completed orders",
    "revenue by product category in 2023",
    "monthly revenue last year",
    "orders over 500 not in europe",
    "how many cancelled orders in Europe",
    "revenue by channel in the last 30 days",
]
# (probe, index of the verified question it means, or None when it means something else)
PROBES: list[tuple[str, int | None]] = [
    ("what was the total revenue in 2024", 0),
    ("2024 total revenue", 0),
    ("total revenue in 2024 please", 0),
    ("revenue per region", 1),
    ("what is the revenue for each region", 1),
    ("show revenue broken down by region", 1),
    ("count of orders per channel", 2),
    ("how many orders per channel", 2),
    ("orders count by channel", 2),
    ("top five customers by revenue", 3),
    ("the 5 best customers by revenue", 3),
    ("5 customers with the highest revenue", 3),
    ("mean order value for completed orders", 4),
    ("average value of completed orders", 4),
    ("what is the average order value of completed orders", 4),
    ("revenue per product category in 2023", 5),
    ("2023 revenue by product category", 5),
    ("revenue for each product category during 2023", 5),
    ("revenue by month last year", 6),
    ("last year's revenue per month", 6),
    ("orders over 500 that are not in europe", 7),
    ("number of cancelled orders in Europe", 8),
    ("count of cancelled orders in europe", 8),
    ("revenue per channel in the last 30 days", 9),
    ("revenue per channel over the last 30 days", 9),
    ("total revenue in 2023", None),
    ("total revenue in 2022", None),
    ("total revenue since 2024", None),
    ("revenue by country", None),
    ("revenue by region in 2024", None),
    ("revenue by region excluding Europe", None),
    ("number of orders per region", None),
    ("number of orders per channel in 2024", None),
    ("revenue per channel", None),
    ("top 10 customers by revenue", None),
    ("bottom 5 customers by revenue", None),
    ("top 5 products by revenue", None),
    ("average order value for cancelled orders", None),
    ("average order value for all orders", None),
    ("median order value for completed orders", None),
    ("revenue by product category in 2024", None),
    ("revenue by product category", None),
    ("monthly revenue this year", None),
    ("weekly revenue last year", None),
    ("orders under 500 not in europe", None),
    ("orders over 500 in europe", None),
    ("orders over 1000 not in europe", None),
    ("how many cancelled orders in Asia", None),
    ("how many returned orders in Europe", None),
    ("revenue by channel in the last 7 days", None),
    ("revenue by channel in the last 30 days for web", None),
]
THRESHOLDS = (0.8, 0.85, 0.9, 0.95)


def prepare(root: Path, rows: int) -> ToolContext:
    shutil.rmtree(root, ignore_errors=True)  # verified pairs and schema versions start clean
    started = time.perf_counter()
    ctx = prepare_warehouse(root, orders=rows)
    print(f"loaded {rows:,} orders in {time.perf_counter() - started:.1f}s")
    for question in VERIFIED:
        sql = translate(ctx, question, today=TODAY).sql
        assert sql, f"the parser did not translate {question!r}"
        get_tool("verify").run(ctx, {"question": question, "sql": sql, "today": TODAY.isoformat()})
    return ctx


def accuracy(ctx: ToolContext) -> None:
    """Hits and false hits per threshold: our cache beside embedding similarity alone."""
    probe_vectors = embed_texts([p for p, _ in PROBES])
    verified_vectors = embed_texts(VERIFIED)
    similarity = probe_vectors @ verified_vectors.T
    same = [(i, target) for i, (_, target) in enumerate(PROBES) if target is not None]
    other = [i for i, (_, target) in enumerate(PROBES) if target is None]
    print(f"\n{len(PROBES)} probes: {len(same)} same intent as a verified question, {len(other)} different")
    print(
        f"{'threshold':>9} | {'cache hits':>10} {'false hits':>10} | {'embed-only hits':>15} "
        f"{'false hits':>10}"
    )
    misses: dict[float, list[str]] = {}
    for threshold in THRESHOLDS:
        settings = ctx.settings.model_copy(update={"cache_threshold": threshold})
        tctx = ToolContext(settings=settings, _overrides={"warehouse": ctx.warehouse, "catalog": ctx.catalog})
        found = [lookup(tctx, probe, TODAY) for probe, _ in PROBES]
        hit_right = sum(1 for i, t in same if found[i] is not None and found[i].pair.question == VERIFIED[t])
        hit_wrong = sum(1 for i, t in same if found[i] is not None and found[i].pair.question != VERIFIED[t])
        false_hits = sum(1 for i in other if found[i] is not None) + hit_wrong
        nearest = similarity.argmax(axis=1)
        embed_right = sum(1 for i, t in same if similarity[i].max() >= threshold and nearest[i] == t)
        embed_false = sum(1 for i in other if similarity[i].max() >= threshold) + sum(
            1 for i, t in same if similarity[i].max() >= threshold and nearest[i] != t
        )
        print(
            f"{threshold:9.2f} | {hit_right:4}/{len(same):<5} {false_hits:4}/{len(PROBES):<5} | "
            f"{embed_right:8}/{len(same):<6} {embed_false:4}/{len(PROBES):<5}"
        )
        misses[threshold] = [PROBES[i][0] for i, _ in same if found[i] is None]
    print(f"same-intent misses at {ctx.settings.cache_threshold}: {misses[ctx.settings.cache_threshold]}")


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def latency(ctx: ToolContext, repeat: int) -> None:
    hits = [(probe, VERIFIED[t]) for probe, t in PROBES if t is not None and lookup(ctx, probe, TODAY)][::2]
    sql_of = {q: translate(ctx, q, today=TODAY).sql for _, q in hits}
    rows = []
    with openai_fake(
        [Reply(f"```sql\n{sql_of[q]}\n```") for _, q in hits for _ in range(repeat + 1)]
    ) as fake:
        llm = ToolContext(
            settings=ctx.settings.model_copy(
                update={
                    "model": "openai",
                    "llm_base_url": fake.url,
                    "llm_api_key": SecretStr("sk-bench"),
                    "llm_model": "fake-gpt",
                }
            ),
            _overrides={"warehouse": ctx.warehouse, "catalog": ctx.catalog},
        )
        for probe, _ in hits:
            assert cached_answer(ctx, probe, today=TODAY) is not None, f"{probe!r} should hit"
            ask(ctx, probe, today=TODAY)  # warm: schema graph, value index, engine
            llm_ask(llm, probe, today=TODAY)
            cache_ms, parse_ms, llm_ms = [], [], []
            for _ in range(repeat):  # alternating, so load on the shared machine hits all three alike
                cache_ms += timed(lambda p=probe: cached_answer(ctx, p, today=TODAY), 1)
                parse_ms += timed(lambda p=probe: ask(ctx, p, today=TODAY), 1)
                llm_ms += timed(lambda p=probe: llm_ask(llm, p, today=TODAY), 1)
            rows.append((probe, *(statistics.median(v) for v in (cache_ms, parse_ms, llm_ms))))
    print(f"\nlatency p50 of {repeat} runs (ms); ratios = other path / cache hit")
    print(f"{'question':48} {'cache hit':>9} {'offline':>8} {'llm(fake)':>9} {'off/hit':>8} {'llm/hit':>8}")
    for probe, cache, parse, llm_time in rows:
        print(
            f"{probe:48} {cache:9.1f} {parse:8.1f} {llm_time:9.1f} {parse / cache:8.2f} "
            f"{llm_time / cache:8.2f}"
        )
    cache, parse, llm_time = (statistics.median(r[i] for r in rows) for i in (1, 2, 3))
    misses = [probe for probe, target in PROBES if target is None]
    miss_ms = statistics.median(t for p in misses for t in timed(lambda p=p: lookup(ctx, p, TODAY), repeat))
    print(
        f"{'median over questions':48} {cache:9.1f} {parse:8.1f} {llm_time:9.1f} {parse / cache:8.2f} "
        f"{llm_time / cache:8.2f}"
    )
    print(f"a miss (the {len(misses)} different-intent probes) adds p50 {miss_ms:.1f} ms before the parser")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000, help="orders to generate (default 20,000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per question and path")
    parser.add_argument("--dir", type=Path, default=Path(__file__).parent / "out", help="working directory")
    args = parser.parse_args()
    ctx = prepare(args.dir / "cache", args.rows)
    accuracy(ctx)
    latency(ctx, args.repeat)


if __name__ == "__main__":
    main()
