"""Foreign-key candidates: a column whose distinct values are (almost) all found in a known dataset's unique
column, and whose name points there ("customer_id"), names it with a role ("pickup_zone_id" -> zones.zone_id),
or, for text codes, says nothing about it ("ship_to" -> depots.code: the values alone are the evidence).

Discovery runs in both directions: a new dataset's columns against the known ones (`find_relationships`), and
the known datasets' columns against the new one (`find_references_to`), so load order does not matter."""

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
# A key named exactly like the referenced one (flights.tailnum -> planes.tailnum) is a relationship even when
# the dimension misses some of its values (nycflights13's planes lack a fifth of the tail numbers).
MIN_CONTAINMENT_SAME_NAME = 0.75
ROLE_SIMILARITY = 0.9  # "pickup_zone_id" names zones.zone_id with a role word in front
VALUE_ONLY_SIMILARITY = 0.5  # a text code whose name says nothing ("ship_to"): containment must carry it
VALUE_ONLY_MIN_DISTINCT = 3  # fewer distinct codes than this prove nothing ("Y"/"N" is in many columns)
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
    if any(column.endswith(f"_{form}") for form in forms if "_" in form or ref_column in GENERIC_KEYS):
        return ROLE_SIMILARITY
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


def _value_only(column: ColumnProfile, ref: ColumnProfile) -> bool:
    """A text code column may reference a unique text key its name does not mention, when both hold enough
    distinct values for containment to mean something."""
    return (
        column.type == ref.type == "string"
        and not column.unique
        and column.distinct_count >= VALUE_ONLY_MIN_DISTINCT
        and ref.distinct_count >= VALUE_ONLY_MIN_DISTINCT
    )


def _candidates(schema: DatasetSchema, known: list[DatasetSchema]) -> list[_Candidate]:
    """Pairs worth a containment check: compatible types, a name pointing at a unique column (or a text code,
    see `_value_only`), and no more distinct values than the referenced column could hold."""
    found = []
    for ref_dataset in known:
        if ref_dataset.name == schema.name:
            continue
        for ref in (c for c in ref_dataset.columns if c.unique):
            for column in schema.columns:
                if (column.unique and column.identifier == ref.identifier) or not _compatible(column, ref):
                    continue
                similarity = name_similarity(column.identifier, ref_dataset.name, ref.identifier)
                share = MIN_CONTAINMENT_SAME_NAME if similarity >= 1.0 else MIN_CONTAINMENT
                too_many = column.distinct_count * share > ref.distinct_count * 1.1
                if similarity < MIN_NAME_SIMILARITY:
                    if not _value_only(column, ref):
                        continue
                    similarity = VALUE_ONLY_SIMILARITY
                if not too_many:
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
    return _confirmed(candidates, own.get, reference_values)


def find_relationships_of_table(
    schema: DatasetSchema, known: list[DatasetSchema], values: ReferenceValues
) -> list[Relationship]:
    """`find_relationships` for a dataset that is a warehouse table (no file to read): `values` reads both
    sides."""
    candidates = _candidates(schema, known)
    own = {c.column.identifier: values(schema, c.column.identifier) for c in candidates}
    return _confirmed(candidates, own.get, values) if candidates else []


def find_references_to(
    target: DatasetSchema, others: list[DatasetSchema], values: ReferenceValues
) -> dict[str, list[Relationship]]:
    """The other direction: columns of already known datasets that reference `target` (a dimension loaded
    after its facts), by dataset name. `values(dataset, column)` reads either side's distinct values."""
    found: dict[str, list[Relationship]] = {}
    for other in others:
        if other.name == target.name:
            continue
        candidates = _candidates(other, [target])
        if not candidates:
            continue
        own: dict[str, pa.Array | None] = {}
        for candidate in candidates:
            identifier = candidate.column.identifier
            if identifier not in own:
                own[identifier] = values(other, identifier)
        relationships = _confirmed(candidates, own.get, values)
        if relationships:
            found[other.name] = relationships
    return found


def _confirmed(
    candidates: list[_Candidate],
    own: Callable[[str], pa.Array | None],
    reference_values: ReferenceValues,
) -> list[Relationship]:
    """Candidates whose values are contained (>= MIN_CONTAINMENT) in the referenced column, best first per
    column; a value-only candidate keeps only its best target."""
    references: dict[tuple[str, str], pa.Array | None] = {}
    found: list[Relationship] = []
    for candidate in candidates:
        key = (candidate.ref_dataset.name, candidate.ref_column.identifier)
        if key not in references:
            references[key] = reference_values(candidate.ref_dataset, candidate.ref_column.identifier)
        values = own(candidate.column.identifier)
        if references[key] is None or values is None:
            continue  # neither the file nor a table to compare with
        share = containment(values, references[key])
        needed = MIN_CONTAINMENT_SAME_NAME if candidate.similarity >= 1.0 else MIN_CONTAINMENT
        if share >= needed:
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
    found.sort(key=lambda r: (r.column, -r.confidence))
    return [
        r
        for i, r in enumerate(found)
        if r.name_similarity > VALUE_ONLY_SIMILARITY or i == 0 or found[i - 1].column != r.column
    ]
