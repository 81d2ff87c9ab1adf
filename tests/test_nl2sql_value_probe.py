"""Values of text columns too large for the value index, probed on the engine at ask time (value_probe).

Two schemas written here, each with more than CATEGORY_MAX_DISTINCT names so the value index skips them:
`transit` (rides -> stations by from_station / to_station, station names with accents, apostrophes and two
"Kings Cross" stations of which rides use one) and `league` (games -> players, names split over first_name /
last_name, with "Hank Smith" and "Joe Aaron" beside "Hank Aaron"). Loaded through the real tools into chDB and
SQLite; gold answers come from DuckDB over the same CSV files.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from etl_assistant.config import Settings
from etl_assistant.evals.nl2sql import results_match
from etl_assistant.nl2sql.parser import HIGH_CONFIDENCE
from etl_assistant.nl2sql.schema_graph import CATEGORY_MAX_DISTINCT
from etl_assistant.nl2sql.service import ask, parser_for
from etl_assistant.nl2sql.value_probe import fold, value_words
from etl_assistant.tools import ToolContext, get_tool
from etl_assistant.tools.run_query import allowed_tables
from etl_assistant.warehouse import connect
from etl_assistant.warehouse.catalog import Catalog

TODAY = date(2024, 6, 1)
_SYLLABLES = ["ka", "lo", "mi", "ra", "te", "vu", "sen", "dor", "bel", "quin", "zar", "pel"]
_SPECIAL_STATIONS = [
    "Harbour Ring",
    "Zürich Hauptbahnhof",
    "O'Brien Square",
    "Kings Cross Central",
    "Kings Cross Depot",
]


def _names(rng: random.Random, count: int, words: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(" ".join("".join(rng.sample(_SYLLABLES, 3)).title() for _ in range(words)))
    return sorted(seen)


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_schemas(root: Path) -> dict[str, list[str]]:
    rng = random.Random(11)
    station_names = _names(rng, CATEGORY_MAX_DISTINCT + 200, 2) + _SPECIAL_STATIONS
    stations = [[f"S{i:04d}", name] for i, name in enumerate(station_names)]
    used = [s[0] for s in stations[:60]] + [s[0] for s in stations if s[1] != "Kings Cross Depot"][-4:]
    rides = [
        [
            i,
            rng.choice(used),
            rng.choice(used),
            round(rng.uniform(1, 30), 2),
            f"2024-0{rng.randint(1, 5)}-1{rng.randint(0, 9)}",
            rng.choice(["Harbour", "Ring", "Kings Cross Express"]),
        ]
        for i in range(3000)
    ]
    code = {name: c for c, name in stations}
    rides += [
        [3000 + i, code["Zürich Hauptbahnhof"], code["O'Brien Square"], 9.5, "2024-05-02", "Ring"]
        for i in range(5)
    ]
    _write(root / "stations.csv", ["station_code", "station_name"], stations)
    _write(root / "rides.csv", ["ride_id", "from_station", "to_station", "fare", "ride_date", "line"], rides)
    firsts, lasts = _names(rng, 1100, 1), _names(rng, 1300, 1)
    players = [[i, firsts[i % len(firsts)], lasts[i], rng.randint(170, 210)] for i in range(1200)]
    players += [[1200, "Hank", "Aaron", 183], [1201, "Hank", "Smith", 190], [1202, "Joe", "Aaron", 177]]
    games = [[i, rng.choice(players)[0], rng.randint(0, 40)] for i in range(4000)]
    games += [[4000 + i, 1200 + i % 3, 10 + i] for i in range(9)]
    _write(root / "players.csv", ["player_id", "first_name", "last_name", "height_cm"], players)
    _write(root / "games.csv", ["game_id", "player_id", "points"], games)
    # A value that is a row's label and an attribute elsewhere: "Nova" the artist and a composer of tracks,
    # "Orbit" the publisher and an imprint printed on books.
    _write(root / "artists.csv", ["artist_id", "name"], [[1, "Nova"], [2, "Pale Sun"], [3, "Cinder"]])
    _write(
        root / "albums.csv",
        ["album_id", "title", "artist_id"],
        [[i, f"Album {i}", 1 + i % 3] for i in range(9)],
    )
    composers = ["Nova", "Rhee", "Okafor", "Lind"]
    tracks = [[i, f"Song {i}", composers[i % 4], i % 9, 180 + i] for i in range(60)]
    _write(root / "tracks.csv", ["track_id", "track_title", "composer", "album_id", "seconds"], tracks)
    _write(root / "publishers.csv", ["publisher_id", "name"], [[1, "Orbit"], [2, "Tor"], [3, "Gollancz"]])
    imprints = ["Orbit", "Daw", "Ace"]
    books = [[i, f"Book {i}", imprints[i % 3], 1 + i % 2 + (i % 5 == 0), 100 + 7 * i] for i in range(40)]
    _write(root / "books.csv", ["book_id", "book_title", "imprint", "publisher_id", "pages"], books)
    return {
        "transit": ["rides", "stations"],
        "league": ["games", "players"],
        "music": ["tracks", "albums", "artists"],
        "press": ["books", "publishers"],
    }


def load(root: Path, warehouse_url: str) -> tuple[dict[str, ToolContext], duckdb.DuckDBPyConnection]:
    order = write_schemas(root)
    settings = Settings(allowed_roots=[root], data_dir=root / "data", _env_file=None)
    warehouse = connect(warehouse_url)
    catalog = Catalog(f"sqlite:///{root / 'catalog.db'}")
    oracle = duckdb.connect()
    contexts = {}
    for schema, files in order.items():
        ctx = ToolContext(
            settings=settings, tenant=schema, _overrides={"warehouse": warehouse, "catalog": catalog}
        )
        for name in files:  # facts first: the relationship is found when the dimension arrives
            get_tool("infer_schema").run(ctx, {"path": str(root / f"{name}.csv")})
            get_tool("load_table").run(ctx, {"dataset": name})
            oracle.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv_auto('{root / name}.csv')")
        contexts[schema] = ctx
    return contexts, oracle


@pytest.fixture(scope="module", params=["chdb", "sqlite"])
def schemas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[dict[str, ToolContext], duckdb.DuckDBPyConnection]]:
    root = tmp_path_factory.mktemp(f"probe_{request.param}")
    url = f"chdb://{root / 'chdb'}" if request.param == "chdb" else f"sqlite:///{root / 'warehouse.db'}"
    contexts, oracle = load(root, url)
    yield contexts, oracle
    oracle.close()


def _answer(schemas, schema: str, question: str, gold: str) -> None:  # noqa: ANN001
    contexts, oracle = schemas
    answer = ask(contexts[schema], question, today=TODAY, limit=1000)
    parse = answer.translation.parse
    assert parse.clarify is None, parse.clarify
    expected = oracle.execute(gold).fetchall()
    assert results_match(expected, [tuple(r) for r in answer.rows], False), (answer.translation.sql, expected)


def test_the_words_of_a_value_ignore_case_punctuation_and_accents() -> None:
    assert (
        value_words("Chicago O'Hare Intl")
        == value_words("chicago ohare intl")
        == ("chicago", "ohare", "intl")
    )
    assert value_words("Zürich Hauptbahnhof") == value_words("zurich hauptbahnhof")
    assert value_words("D.R.") == ("dr",)
    assert fold("José") == "jose"


def test_a_large_name_column_is_probed_and_filtered_through_the_join(schemas) -> None:  # noqa: ANN001
    _answer(
        schemas,
        "transit",
        "how many rides went to O'Brien Square?",
        "SELECT count(*) FROM rides r JOIN stations s ON r.to_station = s.station_code "
        "WHERE s.station_name = 'O''Brien Square'",
    )


def test_the_direction_word_picks_the_key_and_accents_do_not_matter(schemas) -> None:  # noqa: ANN001
    _answer(
        schemas,
        "transit",
        "how many rides from zurich hauptbahnhof to OBrien Square",
        "SELECT count(*) FROM rides r JOIN stations a ON r.from_station = a.station_code "
        "JOIN stations b ON r.to_station = b.station_code "
        "WHERE a.station_name = 'Zürich Hauptbahnhof' AND b.station_name = 'O''Brien Square'",
    )


def test_capitalised_words_of_indexed_values_can_name_a_large_columns_value(schemas) -> None:  # noqa: ANN001
    """ "Harbour" and "Ring" are both lines (indexed values); written together with capitals they are a
    station's name."""
    _answer(
        schemas,
        "transit",
        "how many rides went to Harbour Ring?",
        "SELECT count(*) FROM rides r JOIN stations s ON r.to_station = s.station_code "
        "WHERE s.station_name = 'Harbour Ring'",
    )


def test_a_value_the_index_holds_whole_is_left_to_the_index(schemas) -> None:  # noqa: ANN001
    """ "Kings Cross Express" is a line (an indexed value): not the station "Kings Cross" begins."""
    _answer(
        schemas,
        "transit",
        "total fare of rides on the Kings Cross Express",
        "SELECT sum(fare) FROM rides WHERE line = 'Kings Cross Express'",
    )


def test_the_start_of_a_name_means_the_row_the_facts_use(schemas) -> None:  # noqa: ANN001
    """ "Kings Cross" begins two station names; only Kings Cross Central has rides: it is the one meant, and
    the answer is not stated with high confidence (the question did not say the whole name)."""
    contexts, oracle = schemas
    answer = ask(contexts["transit"], "how many rides from Kings Cross", today=TODAY)
    assert "Kings Cross Central" in answer.translation.sql
    assert answer.translation.parse.confidence < HIGH_CONFIDENCE
    expected = oracle.execute(
        "SELECT count(*) FROM rides r JOIN stations s ON r.from_station = s.station_code "
        "WHERE s.station_name = 'Kings Cross Central'"
    ).fetchall()
    assert results_match(expected, [tuple(r) for r in answer.rows], False)


def test_a_person_named_over_first_and_last_name_columns(schemas) -> None:  # noqa: ANN001
    _answer(
        schemas,
        "league",
        "total points scored by Hank Aaron",
        "SELECT sum(g.points) FROM games g JOIN players p USING (player_id) "
        "WHERE p.first_name = 'Hank' AND p.last_name = 'Aaron'",
    )
    _answer(
        schemas,
        "league",
        "how many games did joe aaron play",
        "SELECT count(*) FROM games g JOIN players p USING (player_id) "
        "WHERE p.first_name = 'Joe' AND p.last_name = 'Aaron'",
    )


def test_a_name_nobody_has_is_asked_back(schemas) -> None:  # noqa: ANN001
    """Joe and Smith are names of players, but of no one player: no filter is invented."""
    contexts, _oracle = schemas
    answer = ask(contexts["league"], "total points scored by Joe Smith", today=TODAY)
    assert answer.translation.parse.clarify is not None


def test_a_question_the_schema_covers_sends_no_probe(schemas) -> None:  # noqa: ANN001
    contexts, _oracle = schemas
    ctx = contexts["transit"]
    parser = parser_for(ctx, allowed_tables(ctx))
    parser.read("total fare by ride date", TODAY)
    assert parser.probe is not None and parser.probe.columns  # station_name is a probed column
    assert parser.probe.spent_ms == 0.0


def test_a_value_that_labels_a_row_names_that_row(schemas) -> None:  # noqa: ANN001
    """ "tracks by Nova": Nova is an artist's name and a composer; the artist is meant (through albums)."""
    _answer(
        schemas,
        "music",
        "how many tracks by Nova are there?",
        "SELECT count(*) FROM tracks t JOIN albums a USING (album_id) JOIN artists r USING (artist_id) "
        "WHERE r.name = 'Nova'",
    )
    _answer(
        schemas,
        "press",
        "total pages of Orbit books",
        "SELECT sum(b.pages) FROM books b JOIN publishers p USING (publisher_id) WHERE p.name = 'Orbit'",
    )
