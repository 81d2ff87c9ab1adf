"""Distinct counting and key detection past the exact bound (string hashes and parsed-value hashes)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl_assistant.schema import distinct
from etl_assistant.schema.distinct import DistinctCounter, hash_strings
from etl_assistant.schema.profile import ColumnStats

BATCH = 65_536


def _texts(numbers: np.ndarray, prefix: str = "") -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _feed_counter(values: pa.Array) -> DistinctCounter:
    counter = DistinctCounter()
    for start in range(0, len(values), BATCH):
        batch = values.slice(start, BATCH)
        uniques = pc.unique(batch)
        counter.add(uniques, had_duplicates=len(uniques) < len(batch))
    return counter


def _feed_column(values: pa.Array) -> ColumnStats:
    stats = ColumnStats("c", "c")
    for start in range(0, len(values), BATCH):
        stats.add(values.slice(start, BATCH))
    return stats


def test_hash_is_a_function_of_the_text_only() -> None:
    words = pa.array(["", "a", "ab", "ba", "Москва", "a" * 300, "b" + "a" * 299])
    hashes = hash_strings(words)
    assert len(set(hashes.tolist())) == len(words)
    sliced = hash_strings(pa.array(["zz", "ab", "Москва"]).slice(1))
    assert sliced.tolist() == [hashes[2], hashes[4]]
    assert len(np.unique(hash_strings(_texts(np.arange(300_000))))) == 300_000


def test_exact_below_the_bound() -> None:
    counter = _feed_counter(pa.array([f"v{i % 5000}" for i in range(20_000)]))
    assert counter.result() == (5000, False) and counter.duplicate


def test_unique_strings_past_the_bound_stay_exact() -> None:
    values = _texts(np.arange(distinct.EXACT_LIMIT * 3), "k")
    counter = _feed_counter(values)
    assert counter.kmv is not None, "the exact set should have been replaced by hashes"
    assert counter.result() == (len(values), False) and not counter.duplicate


def test_many_distinct_with_repeats_is_an_estimate_within_five_percent() -> None:
    rng = np.random.default_rng(1)
    numbers = rng.integers(0, 300_000, 600_000)
    values = _texts(numbers, "id-")
    expected = len(np.unique(numbers))
    count, estimated = _feed_counter(values).result()
    assert estimated and abs(count - expected) / expected < 0.05


def test_integer_key_past_the_bound_and_a_late_duplicate() -> None:
    ids = _texts(np.arange(1, 300_001))
    stats = _feed_column(ids)
    assert stats.distinct.by_keys, "integers should be hashed from their values"
    profile = stats.profile()
    assert (profile.type, profile.distinct_count, profile.distinct_estimated, profile.unique) == (
        "integer",
        300_000,
        False,
        True,
    )
    repeated = _feed_column(pa.concat_arrays([ids, pa.array(["17"])]))
    assert repeated.profile().unique is False and repeated.profile().distinct_count == 300_000


def test_widening_after_hashing_started_flags_an_estimate() -> None:
    stats = _feed_column(pa.concat_arrays([_texts(np.arange(1, 250_001)), pa.array(["2.5"])]))
    profile = stats.profile()
    assert profile.type == "decimal" and profile.distinct_estimated
    assert abs(profile.distinct_count - 250_001) / 250_001 < 0.05
