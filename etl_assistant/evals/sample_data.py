"""Seeded, realistic retail data (customers, products, orders) written by streaming, at any size.

Rows are generated with numpy one chunk at a time and written with Arrow writers, so ~10M orders (~1 GB of
CSV) never sit in memory. The data has what real exports have: skewed customers and products, nullable
discounts, money as fixed two-digit decimals, SKUs with leading zeros ("007-123"), two years of timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

Format = Literal["csv", "csv.gz", "parquet", "ndjson"]
CHUNK_ROWS = 500_000
START = np.datetime64("2023-01-01T00:00:00", "s")
SPAN_SECONDS = int((np.datetime64("2025-01-01T00:00:00", "s") - START).astype(np.int64))

FIRST_NAMES = [
    "Anna",
    "Boris",
    "Chen",
    "Diana",
    "Emil",
    "Fatima",
    "George",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nina",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sergei",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Xenia",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Smith",
    "Ivanova",
    "Garcia",
    "Muller",
    "Rossi",
    "Kim",
    "Nowak",
    "Dubois",
    "Silva",
    "Okafor",
    "Tanaka",
    "Johansson",
    "Petrov",
    "Khan",
    "Lopez",
    "Brown",
]
COUNTRIES = {  # country -> region; listed by weight (first = most customers)
    "US": "North America",
    "DE": "Europe",
    "GB": "Europe",
    "FR": "Europe",
    "CA": "North America",
    "BR": "South America",
    "IN": "Asia",
    "JP": "Asia",
    "AU": "Oceania",
    "MX": "North America",
    "ES": "Europe",
    "NG": "Africa",
}
SEGMENTS = (["consumer", "corporate", "home office"], [0.6, 0.3, 0.1])
CATEGORIES = ["Electronics", "Books", "Home", "Garden", "Toys", "Sports", "Beauty", "Grocery"]
ADJECTIVES = ["Classic", "Smart", "Eco", "Pro", "Mini", "Ultra", "Family", "Travel"]
NOUNS = ["Lamp", "Kettle", "Novel", "Backpack", "Speaker", "Chair", "Puzzle", "Racket", "Serum", "Tea"]
STATUSES = (["completed", "shipped", "pending", "cancelled", "returned"], [0.7, 0.12, 0.08, 0.06, 0.04])
CHANNELS = (["web", "mobile", "store", "partner"], [0.45, 0.3, 0.2, 0.05])
DISCOUNTS = np.array([5, 10, 15, 20, 25, 30])  # percent


def _zipf_weights(n: int, exponent: float = 1.1) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def _pick(
    rng: np.random.Generator, choices: list[str], size: int, p: list[float] | np.ndarray | None = None
) -> pa.Array:
    return pc.take(pa.array(choices, type=pa.string()), pa.array(rng.choice(len(choices), size=size, p=p)))


def _decimal(cents: np.ndarray, mask: np.ndarray | None = None, precision: int = 12) -> pa.Array:
    """int64 hundredths as decimal128(precision, 2), built from the raw 16-byte little-endian words."""
    words = np.empty(2 * len(cents), dtype=np.int64)
    words[0::2] = cents
    words[1::2] = np.where(cents < 0, -1, 0)
    validity = None if mask is None else pa.array(~mask).buffers()[1]
    return pa.Array.from_buffers(
        pa.decimal128(precision, 2),
        len(cents),
        [validity, pa.py_buffer(words)],
        null_count=-1 if mask is not None else 0,
    )


def customers_table(count: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    ids = np.arange(1, count + 1)
    first = _pick(rng, FIRST_NAMES, count)
    last = _pick(rng, LAST_NAMES, count)
    country_codes = list(COUNTRIES)
    country = _pick(rng, country_codes, count, _zipf_weights(len(country_codes), 0.9))
    region = pc.take(
        pa.array(list(COUNTRIES.values())), pc.index_in(country, value_set=pa.array(country_codes))
    )
    email = pc.binary_join_element_wise(
        pc.utf8_lower(first), ".", pc.utf8_lower(last), pa.array(ids.astype(str)), "@example.com", ""
    )
    email = pc.if_else(pa.array(rng.random(count) < 0.03), pa.nulls(count, pa.string()), email)
    signup = START.astype("datetime64[D]") - 730 + rng.integers(0, 730 + 700, count)
    return pa.table(
        {
            "customer_id": ids,
            "name": pc.binary_join_element_wise(first, last, " "),
            "email": email,
            "country": country,
            "region": region,
            "segment": _pick(rng, SEGMENTS[0], count, SEGMENTS[1]),
            "signup_date": pa.array(signup, type=pa.date32()),
            "is_active": pa.array(rng.random(count) < 0.85),
        }
    )


def products_table(count: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed + 1)
    ids = np.arange(1, count + 1)
    sku = pc.binary_join_element_wise(
        pc.utf8_lpad(pa.array(rng.integers(0, 1000, count).astype(str)), 3, "0"),
        pc.utf8_lpad(pa.array((ids % 1000).astype(str)), 3, "0"),
        "-",
    )
    names = pc.binary_join_element_wise(
        _pick(rng, ADJECTIVES, count), _pick(rng, NOUNS, count), pa.array(ids.astype(str)), " "
    )
    price_cents = np.round(np.exp(rng.uniform(np.log(100), np.log(50_000), count))).astype(np.int64)
    return pa.table(
        {
            "product_id": ids,
            "sku": sku,
            "name": names,
            "category": _pick(rng, CATEGORIES, count),
            "price": _decimal(price_cents, precision=10),
        }
    )


def _order_chunks(count: int, customers: pa.Table, prices: np.ndarray, seed: int) -> Iterator[pa.Table]:
    rng = np.random.default_rng(seed + 2)
    customer_weights = _zipf_weights(customers.num_rows, 0.8)[rng.permutation(customers.num_rows)]
    product_weights = _zipf_weights(len(prices), 1.0)
    regions = customers.column("region").combine_chunks()
    for start in range(0, count, CHUNK_ROWS):
        size = min(CHUNK_ROWS, count - start)
        customer_index = rng.choice(customers.num_rows, size=size, p=customer_weights)
        product_index = rng.choice(len(prices), size=size, p=product_weights)
        seconds = np.sort(rng.integers(0, SPAN_SECONDS, size))  # orders arrive roughly in time order
        stamps = START + seconds.astype("timedelta64[s]")
        quantity = np.minimum(rng.geometric(0.45, size), 20)
        no_discount = rng.random(size) < 0.7
        discount_pct = np.where(no_discount, 0, DISCOUNTS[rng.integers(0, len(DISCOUNTS), size)])
        amount = np.round(prices[product_index] * quantity * (100 - discount_pct) / 100).astype(np.int64)
        yield pa.table(
            {
                "order_id": np.arange(start + 1, start + size + 1),
                "customer_id": customer_index + 1,
                "product_id": product_index + 1,
                "order_ts": pa.array(stamps, type=pa.timestamp("s")),
                "order_date": pa.array(stamps.astype("datetime64[D]"), type=pa.date32()),
                "status": _pick(rng, STATUSES[0], size, STATUSES[1]),
                "quantity": quantity.astype(np.int64),
                "amount": _decimal(amount),
                "discount": _decimal(discount_pct, mask=no_discount, precision=5),  # percent = hundredths
                "region": pc.take(regions, pa.array(customer_index)),
                "channel": _pick(rng, CHANNELS[0], size, CHANNELS[1]),
            }
        )


def _writer(
    path: Path, fmt: Format, schema: pa.Schema
) -> tuple[Callable[[pa.Table], None], Callable[[], None]]:
    """(write(table), close()) for one output file."""
    if fmt == "parquet":
        parquet = pq.ParquetWriter(path, schema)
        return parquet.write_table, parquet.close
    if fmt == "ndjson":
        stream = open(path, "w", encoding="utf-8")

        def write_json(table: pa.Table) -> None:
            import json

            for row in table.to_pylist():
                stream.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")

        return write_json, stream.close
    sink = pa.CompressedOutputStream(str(path), "gzip") if fmt == "csv.gz" else pa.OSFile(str(path), "wb")
    csv_writer = pcsv.CSVWriter(sink, schema, write_options=pcsv.WriteOptions(quoting_style="needed"))

    def close_csv() -> None:
        csv_writer.close()
        sink.close()

    return csv_writer.write_table, close_csv


def _write(path: Path, fmt: Format, tables: Iterator[pa.Table]) -> Path:
    first = next(tables)
    write, close = _writer(path, fmt, first.schema)
    try:
        write(first)
        for table in tables:
            write(table)
    finally:
        close()
    return path


def write_retail(
    out_dir: str | Path,
    orders: int = 10_000,
    *,
    customers: int | None = None,
    products: int | None = None,
    seed: int = 7,
    fmt: Format = "csv",
) -> dict[str, Path]:
    """Write customers, products and orders files into `out_dir`; returns {"customers": path, ...}.

    Defaults scale with `orders`: one customer per 20 orders (at least 50), one product per 200 (20..5000).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    customer_count = customers or max(50, orders // 20)
    product_count = products or min(5000, max(20, orders // 200))
    customer_table = customers_table(customer_count, seed)
    product_table = products_table(product_count, seed)
    prices = pc.cast(pc.multiply(product_table.column("price"), 100), pa.int64()).to_numpy()
    suffix = {"csv": ".csv", "csv.gz": ".csv.gz", "parquet": ".parquet", "ndjson": ".ndjson"}[fmt]
    return {
        "customers": _write(out / f"customers{suffix}", fmt, iter([customer_table])),
        "products": _write(out / f"products{suffix}", fmt, iter([product_table])),
        "orders": _write(out / f"orders{suffix}", fmt, _order_chunks(orders, customer_table, prices, seed)),
    }
