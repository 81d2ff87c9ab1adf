"""Five small schemas the offline parser was never tuned on, written as CSV files with a fixed seed.

Each is shaped after a cause of issue 11: identifiers that share the row noun (`trips.trip`), codes that are
numbers (`flights.flight_number`), a fact table whose key names nothing it points at
(`shipments.ship_to` -> `depots.code`), two keys to one table (pickup/dropoff zones), a link table
(`book_authors`), unit-bearing measures (`dep_delay_minutes`, `distance_miles`) beside an `hour` and a
`minute` column. `LOAD_ORDER` puts facts before their dimensions on purpose.
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, timedelta
from pathlib import Path

CARRIERS = [
    (1, "Acme Freight", "DE"),
    (2, "Blue Line", "NL"),
    (3, "Coastal Cargo", "FR"),
    (4, "Delta Haul", "DE"),
]
DEPOTS = [("BER", "Berlin", 900), ("HAM", "Hamburg", 1200), ("MUC", "Munich", 700), ("CGN", "Cologne", 500)]
ZONES = [
    (1, "Midtown", "Manhattan"),
    (2, "Airport", "Queens"),
    (3, "Harbor", "Brooklyn"),
    (4, "Uptown", "Manhattan"),
    (5, "Riverside", "Bronx"),
]
AUTHORS = [
    (1, "Ada Byron", "UK"),
    (2, "Jorge Ortiz", "AR"),
    (3, "Mei Tanaka", "JP"),
    (4, "Lena Vogel", "DE"),
    (5, "Omar Haddad", "EG"),
]
GENRES = ["fantasy", "history", "poetry", "science"]
CITIES = ["Austin", "Denver", "Portland", "Boston"]
CATEGORIES = ["Bakery", "Bar", "Cafe", "Gym", "Salon"]
AIRLINES = ["AA", "DL", "UA", "WN"]
AIRPORTS = ["JFK", "LAX", "ORD", "SEA", "ATL"]

# Each schema: its files in the order they are inferred and loaded (facts first: nothing joins by accident).
LOAD_ORDER: dict[str, list[str]] = {
    "logistics": ["shipments", "carriers", "depots"],
    "taxi": ["trips", "zones"],
    "books": ["book_authors", "books", "authors"],
    "business": ["businesses"],
    "flights": ["flights"],
    "clinic": ["visits", "patients", "doctors"],
    "readings": ["readings"],
}
DOCTORS = [
    (1, "Lin Chen", "cardiology"),
    (2, "Ana Ruiz", "pediatrics"),
    (3, "Sam Okafor", "neurology"),
    (4, "Eva Novak", "cardiology"),
]


def _write(path: Path, header: list[str], rows: list[tuple]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def write_logistics(root: Path, rng: random.Random) -> None:
    _write(root / "carriers.csv", ["carrier_id", "name", "country"], CARRIERS)
    _write(root / "depots.csv", ["code", "city", "capacity"], DEPOTS)
    rows = []
    for number in range(5001, 5601):
        shipped = date(2024, 1, 1) + timedelta(days=rng.randint(0, 364))
        rows.append(
            (
                number,
                rng.choice(CARRIERS)[0],
                rng.choice(DEPOTS)[0],
                round(rng.uniform(5, 900), 1),
                round(rng.uniform(20, 2500), 2),
                shipped.isoformat(),
                rng.choice(["delivered", "delivered", "in_transit", "lost"]),
            )
        )
    _write(
        root / "shipments.csv",
        ["shipment_no", "carrier_id", "ship_to", "weight_kg", "cost", "shipped_date", "status"],
        rows,
    )


def write_taxi(root: Path, rng: random.Random) -> None:
    _write(root / "zones.csv", ["zone_id", "zone_name", "borough"], ZONES)
    rows = []
    for trip in range(100001, 101501):
        pickup = datetime(2024, 1, 1) + timedelta(minutes=rng.randint(0, 60 * 24 * 180))
        miles = round(rng.uniform(0.3, 25), 2)
        rows.append(
            (
                trip,
                rng.choice(ZONES)[0],
                rng.choice(ZONES)[0],
                pickup.isoformat(sep=" "),
                pickup.hour,
                round(rng.uniform(0, 20), 1),
                round(rng.uniform(0, 8), 1),
                round(3 + miles * 2.5 + rng.uniform(0, 5), 2),
                miles,
                rng.randint(1, 5),
            )
        )
    _write(
        root / "trips.csv",
        [
            "trip",
            "pickup_zone_id",
            "dropoff_zone_id",
            "pickup_time",
            "hour",
            "pickup_wait_minutes",
            "dropoff_wait_minutes",
            "fare",
            "distance_miles",
            "passengers",
        ],
        rows,
    )


def write_books(root: Path, rng: random.Random) -> None:
    _write(root / "authors.csv", ["author_id", "author_name", "country"], AUTHORS)
    books, links = [], []
    for book_id in range(1, 121):
        books.append(
            (
                book_id,
                f"Volume {book_id}",
                rng.choice(GENRES),
                rng.randint(80, 900) if book_id != 77 else 1500,  # one clear longest book
                rng.randint(1990, 2023),
                round(rng.uniform(5, 60), 2),
            )
        )
        for author in rng.sample(AUTHORS, rng.choice([1, 1, 2]))[:2]:
            links.append((book_id, author[0]))
    _write(root / "books.csv", ["book_id", "title", "genre", "pages", "published_year", "price"], books)
    _write(root / "book_authors.csv", ["book_id", "author_id"], links)


def write_business(root: Path, rng: random.Random) -> None:
    rows = []
    for business_id in range(1, 301):
        rating = round(rng.uniform(1, 4.8), 1) if business_id != 123 else 5.0
        rows.append(
            (
                business_id,
                f"Place {business_id}",
                rng.choice(CITIES),
                rng.choice(CATEGORIES),
                rating,
                rng.randint(0, 2000),
                "true" if rng.random() < 0.8 else "false",
            )
        )
    _write(
        root / "businesses.csv",
        ["business_id", "name", "city", "category", "rating", "review_count", "is_open"],
        rows,
    )


def write_flights(root: Path, rng: random.Random) -> None:
    rows = []
    for flight_id in range(1, 2001):
        day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 270))
        origin, dest = rng.sample(AIRPORTS, 2)
        rows.append(
            (
                flight_id,
                rng.choice(AIRLINES),
                rng.randint(100, 1999),
                origin,
                dest,
                day.isoformat(),
                rng.randint(5, 22),
                rng.choice([0, 15, 30, 45]),
                max(-15, int(rng.gauss(12, 35))),
                rng.randint(150, 2800),
            )
        )
    _write(
        root / "flights.csv",
        [
            "flight_id",
            "carrier",
            "flight_number",
            "origin",
            "dest",
            "flight_date",
            "hour",
            "minute",
            "dep_delay_minutes",
            "distance_miles",
        ],
        rows,
    )


def write_clinic(root: Path, rng: random.Random) -> None:
    _write(root / "doctors.csv", ["doctor_id", "doctor_name", "specialty"], DOCTORS)
    patients = [(pid, f"Patient {pid}", rng.randint(1940, 2015), rng.choice(CITIES)) for pid in range(1, 201)]
    _write(root / "patients.csv", ["patient_id", "full_name", "birth_year", "city"], patients)
    visits = []
    for visit_no in range(9001, 9801):
        day = date(2024, 1, 1) + timedelta(days=rng.randint(0, 300))
        visits.append(
            (
                visit_no,
                rng.randint(1, 200),
                rng.choice(DOCTORS)[0],
                rng.choice(DOCTORS)[0],
                day.isoformat(),
                rng.randint(10, 90),
                round(rng.uniform(40, 400), 2),
                "yes" if rng.random() < 0.15 else "no",
            )
        )
    _write(
        root / "visits.csv",
        [
            "visit_no",
            "patient_id",
            "doctor_id",
            "referring_doctor_id",
            "visit_date",
            "duration_minutes",
            "fee",
            "is_emergency",
        ],
        visits,
    )


def write_readings(root: Path, rng: random.Random) -> None:
    """Local calendar parts beside a UTC timestamp (five hours ahead): the parts are the data's calendar."""
    rows = []
    for reading_id in range(1, 3001):
        local = datetime(2023, 1, 1) + timedelta(hours=rng.randint(0, 24 * 700))
        utc = local + timedelta(hours=5)
        rows.append(
            (
                reading_id,
                rng.choice(["north", "south", "east"]),
                utc.isoformat(sep=" "),
                local.year,
                local.month,
                local.day,
                round(rng.uniform(-10, 35), 1),
            )
        )
    _write(
        root / "readings.csv", ["reading_id", "station", "taken_at_utc", "year", "month", "day", "temp"], rows
    )


WRITERS = {
    "logistics": write_logistics,
    "taxi": write_taxi,
    "books": write_books,
    "business": write_business,
    "flights": write_flights,
    "clinic": write_clinic,
    "readings": write_readings,
}


def write_all(root: Path, seed: int = 11) -> None:
    for name, writer in WRITERS.items():
        writer(root, random.Random(f"{seed}-{name}"))
