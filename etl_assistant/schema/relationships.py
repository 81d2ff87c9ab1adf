"""Foreign-key candidates: a column whose name points at a known dataset's unique column and whose
distinct values are (almost) all found there."""

from __future__ import annotations

from collections.abc import Callable
from difflib import SequenceMatcher

import pyarrow as pa
import pyarrow.compute as pc

from etl_assistant.errors import InputError
from etl_assistant.schema.model import ColumnProfile, DatasetSchema, Relationship
from etl_assistant.schema.readers import Layout, iter_text_batches, layout_of

MIN_NAME_SIMILARITY = 0.8
MIN_CONTAINMENT = 0.9
KEY_TYPES = {"integer", "string", "uuid", "decimal", "date"}
GENERIC_KEYS = {"id", "key", "code", "uuid", "pk"}


def singular(name: str) -> str:
    """customers -> customer, categories -> category, addresses -> address."""
    if name.endswith("ies") and len(name) > 4:
        return name[:-3] + "y"
    if name.endswith(("ses", "xes", "zes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def name_similarity(column: str, ref_dataset: str, ref_column: str) -> float:
    """How strongly `column` names `ref_dataset.ref_column` (1.0: customer_id -> customers.customer_id or
    customers.id)."""
    entity = singular(ref_dataset)
    if ref_column in GENERIC_KEYS:
        forms = {f"{entity}_{ref_column}", f"{ref_dataset}_{ref_column}", f"{entity}{ref_column}"}
    else:
        forms = {ref_column, f"{entity}_{ref_column}"}
    if column in forms:
        return 1.0
    return max(SequenceMatcher(None, column, form).ratio() for form in forms)


def _compatible(column: ColumnProfile, ref: ColumnProfile) -> bool:
    return column.type == ref.type and column.type in KEY_TYPES


def distinct_values(layout: Layout, identifier: str) -> pa.Array:
    """All distinct non-null (trimmed) values of one column of a source."""
    uniques: list[pa.Array] = []
    for batch in iter_text_batches(layout, columns=[identifier]):
        values = pc.utf8_trim_whitespace(batch.column(0).drop_null())
        uniques.append(pc.unique(values))
    if not uniques:
        return pa.array([], type=pa.string())
    return pc.unique(pa.concat_arrays(uniques))


def containment(values: pa.Array, reference: pa.Array) -> float:
    """Share of `values` found in `reference`."""
    if not len(values):
        return 0.0
    return pc.sum(pc.cast(pc.is_in(values, value_set=reference), pa.int64())).as_py() / len(values)


ReferenceValues = Callable[[DatasetSchema, str], "pa.Array | None"]


def file_values(ref_schema: DatasetSchema, identifier: str) -> pa.Array | None:
    """Distinct values of a dataset's column read from its source file (None when the file is gone)."""
    try:
        return distinct_values(layout_of(ref_schema), identifier)
    except InputError:
        return None


def find_relationships(
    schema: DatasetSchema,
    layout: Layout,
    known: list[DatasetSchema],
    reference_values: ReferenceValues = file_values,
) -> list[Relationship]:
    """Candidates with a name similarity >= 0.8 and containment >= 0.9, best first per column.

    `reference_values(dataset, column)` gives a referenced column's distinct values as text (from its file by
    default; the tool also falls back to the dataset's warehouse table)."""
    found: list[Relationship] = []
    own_values: dict[str, pa.Array] = {}
    for ref_schema in known:
        if ref_schema.name == schema.name:
            continue
        for ref in (c for c in ref_schema.columns if c.unique):
            for column in schema.columns:
                if (column.unique and column.identifier == ref.identifier) or not _compatible(column, ref):
                    continue
                similarity = name_similarity(column.identifier, ref_schema.name, ref.identifier)
                if (
                    similarity < MIN_NAME_SIMILARITY
                    or column.distinct_count * MIN_CONTAINMENT > ref.distinct_count * 1.1
                ):
                    continue
                ref_values = reference_values(ref_schema, ref.identifier)
                if ref_values is None:
                    continue  # neither the file nor a table to compare with
                if column.identifier not in own_values:
                    own_values[column.identifier] = distinct_values(layout, column.identifier)
                share = containment(own_values[column.identifier], ref_values)
                if share >= MIN_CONTAINMENT:
                    found.append(
                        Relationship(
                            column=column.identifier,
                            ref_dataset=ref_schema.name,
                            ref_column=ref.identifier,
                            containment=round(share, 4),
                            name_similarity=round(similarity, 3),
                            confidence=round((share + similarity) / 2, 3),
                        )
                    )
    return sorted(found, key=lambda r: (r.column, -r.confidence))
