"""Benchmark: our schema inference against DuckDB on the same generated orders CSV, in the same run.

    .venv/bin/python bench/bench_infer.py --rows 1250000      # ~110 MB
    .venv/bin/python bench/bench_infer.py                     # ~10M rows, ~1 GB

Baselines: DuckDB `sniff_csv` + `read_csv` into a table (dialect + types + a full typed parse) and DuckDB
`SUMMARIZE` over `read_csv` (a full pass with per-column statistics, the closest to what we compute).
Runs are interleaved (ours, DuckDB, DuckDB, ours, ...) so machine load hits all alike. Prints the
median of --runs runs, MB/s and our time as a ratio of each baseline. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from etl_assistant.config import Settings
from etl_assistant.evals.sample_data import write_retail
from etl_assistant.schema.infer import infer_file
from etl_assistant.schema.model import DatasetSchema


def _orders_file(directory: Path, rows: int) -> Path:
    target = directory / f"orders_{rows}"
    path = target / "orders.csv"
    if not path.exists():
        started = time.perf_counter()
        write_retail(target, orders=rows, seed=7)
        print(
            f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s"
        )
    return path


@dataclass
class Measured:
    seconds: float  # median wall-clock
    cpu_seconds: float  # median CPU time of the process (all threads): fairer on a busy shared machine
    result: object


def _interleaved_medians(runs: int, **contenders: Callable[[], object]) -> dict[str, Measured]:
    """Medians per contender, running them in turn so changes in machine load hit all alike."""
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, object] = {}
    for _ in range(runs):
        for name, run in contenders.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            results[name] = run()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {
        name: Measured(statistics.median(wall[name]), statistics.median(cpu[name]), results[name])
        for name in contenders
    }


def _duckdb_sniff_and_read(path: Path) -> list[tuple[str, str]]:
    con = duckdb.connect()
    con.execute("SELECT * FROM sniff_csv(?)", [str(path)]).fetchall()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(path)])
    columns = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't'"
    )
    result = columns.fetchall()
    con.close()
    return result


def _duckdb_summarize(path: Path) -> int:
    con = duckdb.connect()
    rows = con.execute("SUMMARIZE SELECT * FROM read_csv(?)", [str(path)]).fetchall()
    con.close()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="orders rows (~88 bytes each)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "etla-bench")
    args = parser.parse_args()
    path = _orders_file(args.dir, args.rows)
    megabytes = path.stat().st_size / 1e6
    settings = Settings(allowed_roots=[path.parent], data_dir=path.parent / "data", _env_file=None)

    measured = _interleaved_medians(
        args.runs,
        ours=lambda: infer_file(path, settings),
        duck_read=lambda: _duckdb_sniff_and_read(path),
        duck_summary=lambda: _duckdb_summarize(path),
    )
    ours, duck_read, duck_summary = measured.values()
    schema: DatasetSchema = ours.result  # type: ignore[assignment]
    print(f"\nfile: {path} ({megabytes:.0f} MB, {schema.row_count:,} rows), median of {args.runs} runs")
    print(f"{'what':<44}{'wall s':>8}{'MB/s':>7}{'ours/it':>9}{'cpu s':>8}{'ours/it':>9}")
    for label, it in [
        ("etl-assistant infer_file (types + profile)", ours),
        ("duckdb sniff_csv + read_csv into a table", duck_read),
        ("duckdb SUMMARIZE read_csv", duck_summary),
    ]:
        print(
            f"{label:<44}{it.seconds:>8.2f}{megabytes / it.seconds:>7.0f}{ours.seconds / it.seconds:>8.2f}x"
            f"{it.cpu_seconds:>8.2f}{ours.cpu_seconds / it.cpu_seconds:>8.2f}x"
        )
    print("\ncolumn types (ours vs duckdb):")
    for column, (_, duck_type) in zip(schema.columns, duck_read.result, strict=True):  # type: ignore[call-overload]
        detail = column.details.model_dump(exclude_none=True)
        print(f"  {column.identifier:<12} {column.type:<9} {str(detail):<70} {duck_type}")


if __name__ == "__main__":
    main()
