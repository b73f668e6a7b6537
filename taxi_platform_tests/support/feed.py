"""Months of the TLC's parquet feed as its years really wrote them, generated with pyarrow.

    path = write_feed_month(feed_path(root, "yellow", "2019-03"), "yellow", "2019-03", "2019", rows=2000, seed=1)
    TripSource(base_url=root.as_uri(), tlc_url=root.as_uri(), sources="tlc")  # serves it as the feed

The styles use the physical types of the published files' footers (DESIGN §5b), column names and
order included:

- "2019" (yellow 2019-01 … 2023-01, green of those years): VendorID, PU/DOLocationID INT64;
  passenger_count and RatecodeID DOUBLE, with a few non-integral values (`1.5`); yellow
  payment_type INT64 and a lowercase `airport_fee` INT32 that is all NULL; green payment_type and
  trip_type DOUBLE.
- "2023" (yellow from 2023-02, green 2023-12 and 2024-01): VendorID, PU/DOLocationID INT32;
  passenger_count, RatecodeID, payment_type (and green trip_type) INT64; yellow `Airport_fee` DOUBLE.
- "2025": "2023" plus `cbd_congestion_fee` DOUBLE.

Timestamps are naive `timestamp[us]` with whole seconds, as the TLC writes them; `timestamp_unit`
asks for ms or ns instead. Values are random but fixed by `seed`; nothing here imports
taxi_platform, so the files are an independent input.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

STYLES = ("2019", "2023", "2025")
HUGE_ID = 2**40  # an INT64 value beyond INT32: an id no typed int column can hold

_I32, _I64, _F64, _STR = pa.int32(), pa.int64(), pa.float64(), pa.large_string()
_TS = object()  # placeholder for the timestamp type of the chosen unit

# (name, type) in the published files' order, per color and style.
_LAYOUTS: dict[tuple[str, str], list[tuple[str, object]]] = {
    ("yellow", "2019"): [
        ("VendorID", _I64), ("tpep_pickup_datetime", _TS), ("tpep_dropoff_datetime", _TS),
        ("passenger_count", _F64), ("trip_distance", _F64), ("RatecodeID", _F64), ("store_and_fwd_flag", _STR),
        ("PULocationID", _I64), ("DOLocationID", _I64), ("payment_type", _I64), ("fare_amount", _F64),
        ("extra", _F64), ("mta_tax", _F64), ("tip_amount", _F64), ("tolls_amount", _F64),
        ("improvement_surcharge", _F64), ("total_amount", _F64), ("congestion_surcharge", _F64),
        ("airport_fee", _I32),
    ],
    ("yellow", "2023"): [
        ("VendorID", _I32), ("tpep_pickup_datetime", _TS), ("tpep_dropoff_datetime", _TS),
        ("passenger_count", _I64), ("trip_distance", _F64), ("RatecodeID", _I64), ("store_and_fwd_flag", _STR),
        ("PULocationID", _I32), ("DOLocationID", _I32), ("payment_type", _I64), ("fare_amount", _F64),
        ("extra", _F64), ("mta_tax", _F64), ("tip_amount", _F64), ("tolls_amount", _F64),
        ("improvement_surcharge", _F64), ("total_amount", _F64), ("congestion_surcharge", _F64),
        ("Airport_fee", _F64),
    ],
    ("green", "2019"): [
        ("VendorID", _I64), ("lpep_pickup_datetime", _TS), ("lpep_dropoff_datetime", _TS),
        ("store_and_fwd_flag", _STR), ("RatecodeID", _F64), ("PULocationID", _I64), ("DOLocationID", _I64),
        ("passenger_count", _F64), ("trip_distance", _F64), ("fare_amount", _F64), ("extra", _F64),
        ("mta_tax", _F64), ("tip_amount", _F64), ("tolls_amount", _F64), ("ehail_fee", _F64),
        ("improvement_surcharge", _F64), ("total_amount", _F64), ("payment_type", _F64), ("trip_type", _F64),
        ("congestion_surcharge", _F64),
    ],
    ("green", "2023"): [
        ("VendorID", _I32), ("lpep_pickup_datetime", _TS), ("lpep_dropoff_datetime", _TS),
        ("store_and_fwd_flag", _STR), ("RatecodeID", _I64), ("PULocationID", _I32), ("DOLocationID", _I32),
        ("passenger_count", _I64), ("trip_distance", _F64), ("fare_amount", _F64), ("extra", _F64),
        ("mta_tax", _F64), ("tip_amount", _F64), ("tolls_amount", _F64), ("ehail_fee", _F64),
        ("improvement_surcharge", _F64), ("total_amount", _F64), ("payment_type", _I64), ("trip_type", _I64),
        ("congestion_surcharge", _F64),
    ],
}  # fmt: skip
for _color in ("green", "yellow"):
    _LAYOUTS[(_color, "2025")] = [*_LAYOUTS[(_color, "2023")], ("cbd_congestion_fee", _F64)]

# Columns a file leaves empty on some rows, as the TLC's do for trips a vendor reports without them.
_SOMETIMES_EMPTY = {
    "passenger_count", "RatecodeID", "store_and_fwd_flag", "payment_type", "trip_type", "congestion_surcharge",
    "airport_fee", "Airport_fee", "cbd_congestion_fee",
}  # fmt: skip
_REQUIRED = ("pickup", "PULocationID", "DOLocationID")


def feed_path(root: Path, color: str, yyyy_mm: str) -> Path:
    """Where a feed mirror rooted at `root` publishes a month (`TripSource(tlc_url=root.as_uri())` reads it)."""
    return root / "trip-data" / f"{color}_tripdata_{yyyy_mm}.parquet"


def write_feed_month(
    path: Path,
    color: str,
    yyyy_mm: str,
    style: str = "2023",
    rows: int = 1000,
    seed: int = 0,
    *,
    timestamp_unit: str = "us",
    drop: Iterable[str] = (),
    extra_columns: Iterable[str] = (),
    null_keys: int = 0,
    huge_ids: int = 0,
    row_group_size: int | None = None,
) -> Path:
    """Write one month of `color` trips in `style` to `path` (parent folders made); returns `path`.

    `drop` leaves columns out (an early year's file); `extra_columns` adds DOUBLE columns the TLC
    might add; `null_keys` rows lack their pickup time, pickup zone or drop-off zone (in turn);
    `huge_ids` rows have a payment_type of 2**40. Style "2019" has a few non-integral
    passenger_count and RatecodeID values (`rows // 400 + 1` each).
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
    rng = random.Random(seed)
    year, month = (int(part) for part in yyyy_mm.split("-"))
    start = dt.datetime(year, month, 1)
    seconds = ((dt.datetime(year + month // 12, month % 12 + 1, 1)) - start).total_seconds()
    prefix = "lpep" if color == "green" else "tpep"
    dropped = set(drop)
    empty = {i for i in range(rows) if rng.random() < 0.03}
    half = {
        name: set(rng.sample(range(rows), min(rows, rows // 400 + 1))) for name in ("passenger_count", "RatecodeID")
    }
    odd_keys = dict(zip(rng.sample(range(rows), null_keys), (_REQUIRED * null_keys)[:null_keys], strict=True))
    huge = set(rng.sample(range(rows), huge_ids))

    pickups = [start + dt.timedelta(seconds=int(rng.random() * seconds)) for _ in range(rows)]
    columns: dict[str, list] = {}
    for name, _ in _LAYOUTS[(color, style)]:
        values = []
        for i in range(rows):
            value = _value(rng, name, pickups[i], style)
            if name in _SOMETIMES_EMPTY and i in empty:
                value = None
            if style == "2019" and name in half and i in half[name] and i not in empty:
                value = 1.5
            if name == "payment_type" and i in huge:
                value = HUGE_ID
            if odd_keys.get(i) == name or (odd_keys.get(i) == "pickup" and name == f"{prefix}_pickup_datetime"):
                value = None
            if name == "airport_fee" and style == "2019":
                value = None  # INT32 and all NULL in 2019-01 … 2020-07
            values.append(value)
        columns[name] = values
    for name in extra_columns:
        columns[name] = [round(rng.uniform(0, 5), 2) for _ in range(rows)]
    fields = [
        pa.field(name, pa.timestamp(timestamp_unit) if kind is _TS else kind)
        for name, kind in _LAYOUTS[(color, style)]
        if name not in dropped
    ] + [pa.field(name, _F64) for name in extra_columns]
    table = pa.table({field.name: pa.array(columns[field.name], field.type) for field in fields})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size, coerce_timestamps=None, allow_truncated_timestamps=False)
    return path


def _value(rng: random.Random, name: str, pickup: dt.datetime, style: str) -> object:
    """A plausible value of a column for one trip picked up at `pickup`."""
    if name.endswith("pickup_datetime"):
        return pickup
    if name.endswith("dropoff_datetime"):
        return pickup + dt.timedelta(seconds=rng.randint(60, 3600))
    if name in ("PULocationID", "DOLocationID"):
        return rng.randint(1, 265)
    if name == "VendorID":
        return rng.choice((1, 2))
    if name == "passenger_count":
        return rng.choice((0, 1, 1, 1, 2, 3, 5))
    if name == "RatecodeID":
        return rng.choice((1, 1, 1, 2, 5))
    if name in ("payment_type", "trip_type"):
        return rng.choice((1, 1, 2))
    if name == "store_and_fwd_flag":
        return rng.choice(("N", "N", "N", "Y"))
    if name == "ehail_fee":
        return None
    if name in ("airport_fee", "Airport_fee"):
        return rng.choice((0.0, 0.0, 1.75))
    if name == "trip_distance":
        return round(rng.uniform(0.1, 20.0), 2)
    if name == "mta_tax":
        return 0.5
    if name == "improvement_surcharge":
        return 1.0 if style != "2019" else 0.3
    if name == "congestion_surcharge":
        return rng.choice((0.0, 2.5, 2.75))
    if name == "cbd_congestion_fee":
        return rng.choice((0.0, 0.75))
    return round(rng.uniform(0.0, 60.0), 2)  # fares, extras, tips, tolls, totals
