"""Independent readings of the test files with Python's csv module and DuckDB: the test oracle.

DuckDB reads a CSV with the course's types, and a TLC parquet file with its own types cast to the
typed schema in SQL written here (`duckdb_source`): integers accept `1.0`, not `1.5` or values
beyond INT32; rows without a pickup time, pickup zone or drop-off zone are not trips.

Nothing here imports taxi_platform, so a bug there cannot hide in both sides of a comparison.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import math
from functools import cache
from pathlib import Path

from taxi_platform_tests.support.data import GREEN_CSV, YELLOW_CSV
from taxi_platform_tests.support.mirror import whole_lines

# The course's schemas (week 5 notebook), written out again on purpose.
COURSE_TYPES = {
    "green": {
        "VendorID": "int", "lpep_pickup_datetime": "timestamp", "lpep_dropoff_datetime": "timestamp",
        "store_and_fwd_flag": "string", "RatecodeID": "int", "PULocationID": "int", "DOLocationID": "int",
        "passenger_count": "int", "trip_distance": "double", "fare_amount": "double", "extra": "double",
        "mta_tax": "double", "tip_amount": "double", "tolls_amount": "double", "ehail_fee": "double",
        "improvement_surcharge": "double", "total_amount": "double", "payment_type": "int",
        "trip_type": "int", "congestion_surcharge": "double",
    },
    "yellow": {
        "VendorID": "int", "tpep_pickup_datetime": "timestamp", "tpep_dropoff_datetime": "timestamp",
        "passenger_count": "int", "trip_distance": "double", "RatecodeID": "int",
        "store_and_fwd_flag": "string", "PULocationID": "int", "DOLocationID": "int",
        "payment_type": "int", "fare_amount": "double", "extra": "double", "mta_tax": "double",
        "tip_amount": "double", "tolls_amount": "double", "improvement_surcharge": "double",
        "total_amount": "double", "congestion_surcharge": "double",
    },
}  # fmt: skip
# The columns the TLC added after the course's, at the end of the typed schema (written out again on purpose).
ADDED_TYPES = {
    "green": {"cbd_congestion_fee": "double"},
    "yellow": {"airport_fee": "double", "cbd_congestion_fee": "double"},
}
PREFIX = {"green": "lpep", "yellow": "tpep"}


def typed_types(color: str) -> dict[str, str]:
    """The typed schema of a color, in order: the course's columns, then the added ones."""
    return {**COURSE_TYPES[color], **ADDED_TYPES[color]}


@cache
def trips_in(path: Path) -> int:
    """A committed file's data rows, counted apart from the code under test: CSV rows by the csv module, a
    parquet file's from its footer."""
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows
    return len(csv_rows(path))


def csv_rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as stream:
        return list(csv.DictReader(stream))


def floats_for_ints(path: Path, color: str, target: Path) -> None:
    """Rewrite a CSV the way the release copies are written: `1` -> `1.0` in integer columns."""
    rows = csv_rows(path)
    ints = [name for name, kind in COURSE_TYPES[color].items() if kind == "int"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(COURSE_TYPES[color]), lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{int(v)}.0" if k in ints and v != "" else v) for k, v in row.items()})
    target.write_bytes(gzip.compress(out.getvalue().encode()))


REVENUE_SQL = """
SELECT
    PULocationID AS revenue_zone,
    CAST(date_trunc('month', pickup_datetime) AS DATE) AS revenue_month,
    '{color}' AS service_type,
    SUM(fare_amount) AS revenue_monthly_fare,
    SUM(extra) AS revenue_monthly_extra,
    SUM(mta_tax) AS revenue_monthly_mta_tax,
    SUM(tip_amount) AS revenue_monthly_tip_amount,
    SUM(tolls_amount) AS revenue_monthly_tolls_amount,
    SUM(improvement_surcharge) AS revenue_monthly_improvement_surcharge,
    SUM(total_amount) AS revenue_monthly_total_amount,
    SUM(congestion_surcharge) AS revenue_monthly_congestion_surcharge,
    AVG(passenger_count) AS avg_monthly_passenger_count,
    AVG(trip_distance) AS avg_monthly_trip_distance
FROM (
    SELECT *, {prefix}_pickup_datetime AS pickup_datetime
    FROM {source}
)
WHERE pickup_datetime >= TIMESTAMP '{start}' AND pickup_datetime < TIMESTAMP '{end}'
GROUP BY 1, 2, 3
ORDER BY 1
"""


_DUCK_TYPES = {"int": "INTEGER", "double": "DOUBLE", "timestamp": "TIMESTAMP", "string": "VARCHAR"}


def _parquet_value(name: str, kind: str) -> str:
    """DuckDB SQL for a stored parquet column as its typed value."""
    column = f'"{name}"'
    if kind == "int":
        number = f"CAST({column} AS DOUBLE)"
        return (
            f"CASE WHEN {number} = floor({number}) AND {number} BETWEEN -2147483648 AND 2147483647 "
            f"THEN CAST({number} AS INTEGER) END"
        )
    return f"CAST({column} AS {_DUCK_TYPES[kind]})"


def parquet_typed_sql(path: Path, color: str) -> str:
    """A DuckDB SELECT (one `?`: the file) of a parquet file's rows in the typed schema, plus `_is_trip`.

    Columns are matched without case (`Airport_fee`); a typed column the file lacks is NULL; for each
    typed column the file has, `_unparsed_{name}` is true where a stored value did not become one.
    """
    import duckdb

    with duckdb.connect() as db:
        stored = {
            row[0].lower(): row[0]
            for row in db.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        }
    values, unparsed = [], []
    for name, kind in typed_types(color).items():
        if name.lower() in stored:
            value = _parquet_value(stored[name.lower()], kind)
            values.append(f"{value} AS {name}")
            unparsed.append(f'("{stored[name.lower()]}" IS NOT NULL AND {value} IS NULL) AS "_unparsed_{name}"')
        else:
            values.append(f"CAST(NULL AS {_DUCK_TYPES[kind]}) AS {name}")
    keys = [f"{PREFIX[color]}_pickup_datetime", "PULocationID", "DOLocationID"]
    return f"""
        SELECT *, {" AND ".join(f"{key} IS NOT NULL" for key in keys)} AS _is_trip
        FROM (SELECT {", ".join(values + unparsed)} FROM read_parquet(?))
    """


def duckdb_source(path: Path, color: str) -> str:
    """A DuckDB FROM item (one `?`: the file) over the trips of a CSV (the course's types) or a parquet file."""
    if path.name.endswith(".parquet"):
        names = ", ".join(typed_types(color))
        return f"(SELECT {names} FROM ({parquet_typed_sql(path, color)}) WHERE _is_trip)"
    duck_types = {"int": "DOUBLE", "double": "DOUBLE", "timestamp": "TIMESTAMP", "string": "VARCHAR"}
    types = "{" + ", ".join(f"'{k}': '{duck_types[v]}'" for k, v in COURSE_TYPES[color].items()) + "}"
    return f"read_csv(?, header = true, all_varchar = false, types = {types})"


def duckdb_revenue(path: Path, color: str, month: str) -> list[dict]:
    """The course's revenue SQL, by DuckDB straight over a CSV or parquet file, for pickups in `month` (`2021-01`)."""
    year, number = (int(part) for part in month.split("-"))
    start, end = dt.date(year, number, 1), dt.date(year + number // 12, number % 12 + 1, 1)
    import duckdb

    sql = REVENUE_SQL.format(color=color, prefix=PREFIX[color], source=duckdb_source(path, color), start=start, end=end)
    with duckdb.connect() as db:
        cursor = db.execute(sql, [str(path)])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


REPORT_KEY = ("revenue_zone", "revenue_month", "service_type")


def assert_same_report(ours: list[dict], theirs: list[dict]) -> None:
    """Same rows by (zone, month, service type); sums equal up to float summation order."""
    mine_by_key = {tuple(row[k] for k in REPORT_KEY): row for row in ours}
    their_by_key = {tuple(row[k] for k in REPORT_KEY): row for row in theirs}
    assert len(mine_by_key) == len(ours) and len(their_by_key) == len(theirs), "report keys repeat"
    assert mine_by_key.keys() == their_by_key.keys()
    for key, theirs_row in their_by_key.items():
        mine = mine_by_key[key]
        assert mine.keys() == theirs_row.keys()
        for name, value in theirs_row.items():
            if isinstance(value, float) or isinstance(mine[name], float):
                assert (mine[name] is None) == (value is None), (name, mine, theirs_row)
                if value is not None:
                    assert math.isclose(mine[name], value, rel_tol=1e-9, abs_tol=1e-9), (name, mine, theirs_row)
            else:
                assert mine[name] == value, (name, mine, theirs_row)


def course_csv(color: str, folder: Path) -> Path:
    """The committed 2021-01 file of a color as the oracle reads it (yellow without its cut-off last line)."""
    if color == "green":
        return GREEN_CSV
    path = folder / "yellow.csv"
    path.write_bytes(whole_lines(YELLOW_CSV))
    return path


def with_zone_names(rows: list[dict], lookup: Path | None = None) -> list[dict]:
    """`rows` (the course SQL's) with their pickup zone's names appended as the report carries them, from the
    zone lookup read with the csv module (the committed one by default); None for an id the lookup lacks."""
    from taxi_platform_tests.support.data import ZONE_LOOKUP

    with (lookup or ZONE_LOOKUP).open(newline="", encoding="utf-8") as stream:
        names = {
            int(row["LocationID"]): dict(borough=row["Borough"], zone=row["Zone"], service_zone=row["service_zone"])
            for row in csv.DictReader(stream)
        }
    unknown = dict.fromkeys(("borough", "zone", "service_zone"))
    return [{**row, **names.get(int(row["revenue_zone"]), unknown)} for row in rows]
