"""Small schemas and files built by hand, so warehouse tests do not depend on inference."""

from __future__ import annotations

import csv
from pathlib import Path

from etl_assistant.schema.model import ColumnProfile, DatasetSchema, Dialect, Relationship, TypeDetails


def column(name: str, type_: str, *, nullable: bool = False, **details: object) -> ColumnProfile:
    return ColumnProfile(name=name, identifier=name, type=type_, details=TypeDetails(**details),
                         nullable=nullable, null_fraction=0.0, distinct_count=0)


def orders_schema(path: Path | str = "/tmp/orders.csv", *, name: str = "orders",
                  delimiter: str = ",", row_count: int = 0) -> DatasetSchema:
    """Orders: id, customer, amount (decimal), ordered (date), paid (bool), note (nullable string)."""
    return DatasetSchema(
        name=name, source=str(path), format="csv", dialect=Dialect(delimiter=delimiter), row_count=row_count,
        columns=[
            column("order_id", "integer", int_bits=32, signed=False),
            column("customer_id", "integer", int_bits=32, signed=False),
            column("amount", "decimal", precision=12, scale=2),
            column("ordered_on", "date", datetime_format="%Y-%m-%d"),
            column("paid", "boolean", true_values=["true"], false_values=["false"]),
            column("note", "string", nullable=True, max_length=20),
        ],
        relationships=[Relationship(column="customer_id", ref_dataset="customers", ref_column="customer_id",
                                    containment=1.0, name_similarity=1.0, confidence=0.95)],
    )


def write_orders_csv(path: Path, rows: int, *, delimiter: str = ",") -> list[dict[str, str]]:
    """Write `rows` deterministic orders; returns them so tests can compute the source side."""
    records = [
        {"order_id": str(i), "customer_id": str(i % 97), "amount": f"{(i * 37) % 10000 / 100:.2f}",
         "ordered_on": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", "paid": "true" if i % 3 else "false",
         "note": "" if i % 5 == 0 else f"note {i % 11}"}
        for i in range(1, rows + 1)
    ]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]), delimiter=delimiter, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    return records
