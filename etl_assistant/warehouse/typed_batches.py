"""The source's rows as typed Arrow batches (inference's reader), with load progress reported per batch."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from etl_assistant.prefetch import prefetched
from etl_assistant.schema.model import DatasetSchema
from etl_assistant.schema.readers import iter_typed_batches
from etl_assistant.tools.base import ProgressCallback

BATCH_ROWS = 65_536


def typed_batches(schema: DatasetSchema, report: ProgressCallback,
                  batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Batches converted to the schema's logical types; progress is rows read of the inferred row count."""
    total = schema.row_count or None
    done = 0
    # Read (parse, convert) the next batches in a thread while the engine takes this one; progress is
    # reported from the caller's thread.
    for batch in prefetched(iter_typed_batches(schema, batch_rows=batch_rows)):
        done += batch.num_rows
        report(done, max(total, done) if total else None, f"read {done:,} rows of {schema.name}")
        yield batch


def raise_first_bad_value(schema: DatasetSchema) -> None:
    """Read the source through the Python converter, which raises the sentence naming the first value that
    does not fit its inferred column: after an engine's own reader rejected a load, that says what to fix."""
    for _ in iter_typed_batches(schema):
        pass
