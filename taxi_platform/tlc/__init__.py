"""Knowledge of the NYC TLC trip dataset: file names, URLs, schemas, validation.

Pure Python: no Spark session, no Dagster, so every layer above can use it.
"""

from taxi_platform.tlc.months import COLORS, TripMonth
from taxi_platform.tlc.schemas import TRIP_COLUMNS, ColumnType, TripColumn, pickup_column
from taxi_platform.tlc.validation import BadTripFile, TripFileFacts, inspect_trip_file

__all__ = [
    "COLORS",
    "TRIP_COLUMNS",
    "BadTripFile",
    "ColumnType",
    "TripColumn",
    "TripFileFacts",
    "TripMonth",
    "inspect_trip_file",
    "pickup_column",
]
