"""Foreign-key candidates: a column whose name points at a known dataset's unique column and whose
distinct values are (almost) all found there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


def distinct_values(layout: Layout, identifiers: list[str]) -> dict[str, pa.Array]:
    """All distinct non-null (trimmed) values of some columns of a source, in one pass."""
    uniques: dict[str, list[pa.Array]] = {identifier: [] for identifier in identifiers}
    for batch in iter_text_batches(layout, columns=identifiers):
        for identifier in identifiers:
            values = pc.utf8_trim_whitespace(pc.unique(batch.column(identifier)).drop_null())
            uniques[identifier].append(values)
    return {
        identifier: pc.unique(pa.concat_arrays(arrays)) if arrays else pa.array([], type=pa.string())
        for identifier, arrays in uniques.items()
    }


def containment(values: pa.Array, reference: pa.Array) -> float:
    """Share of `values` found in `reference`."""
    if not len(values):
        return 0.0
    return pc.sum(pc.cast(pc.is_in(values, value_set=reference), pa.int64())).as_py() / len(values)


ReferenceValues = Callable[[DatasetSchema, str], "pa.Array | None"]


def file_values(ref_schema: DatasetSchema, identifier: str) -> pa.Array | None:
    """Distinct values of a dataset's column read from its source file (None when the file is gone)."""
    try:
        return distinct_values(layout_of(ref_schema), [identifier])[identifier]
    except InputError:
        return None


@dataclass
class _Candidate:
    column: ColumnProfile
    ref_dataset: DatasetSchema
    ref_column: ColumnProfile
    similarity: float


def _candidates(schema: DatasetSchema, known: list[DatasetSchema]) -> list[_Candidate]:
    """Pairs worth a containment check: compatible types, a name pointing at a unique column, and no more
    distinct values than the referenced column could hold."""
    found = []
    for ref_dataset in known:
        if ref_dataset.name == schema.name:
            continue
        for ref in (c for c in ref_dataset.columns if c.unique):
            for column in schema.columns:
                if (column.unique and column.identifier == ref.identifier) or not _compatible(column, ref):
                    continue
                similarity = name_similarity(column.identifier, ref_dataset.name, ref.identifier)
                too_many = column.distinct_count * MIN_CONTAINMENT > ref.distinct_count * 1.1
                if similarity >= MIN_NAME_SIMILARITY and not too_many:
                    found.append(_Candidate(column, ref_dataset, ref, similarity))
    return found


def find_relationships(
    schema: DatasetSchema,
    layout: Layout,
    known: list[DatasetSchema],
    reference_values: ReferenceValues = file_values,
) -> list[Relationship]:
    """Candidates with a name similarity >= 0.8 and containment >= 0.9, best first per column.

    `reference_values(dataset, column)` gives a referenced column's distinct values as text (from its file by
    default; the tool also falls back to the dataset's warehouse table). This file is read once more, for
    the candidate columns only."""
    candidates = _candidates(schema, known)
    if not candidates:
        return []
    own = distinct_values(layout, sorted({c.column.identifier for c in candidates}))
    references: dict[tuple[str, str], pa.Array | None] = {}
    found: list[Relationship] = []
    for candidate in candidates:
        key = (candidate.ref_dataset.name, candidate.ref_column.identifier)
        if key not in references:
            references[key] = reference_values(candidate.ref_dataset, candidate.ref_column.identifier)
        if references[key] is None:
            continue  # neither the file nor a table to compare with
        share = containment(own[candidate.column.identifier], references[key])
        if share >= MIN_CONTAINMENT:
            found.append(
                Relationship(
                    column=candidate.column.identifier,
                    ref_dataset=candidate.ref_dataset.name,
                    ref_column=candidate.ref_column.identifier,
                    containment=round(share, 4),
                    name_similarity=round(candidate.similarity, 3),
                    confidence=round((share + candidate.similarity) / 2, 3),
                )
            )
    return sorted(found, key=lambda r: (r.column, -r.confidence))
