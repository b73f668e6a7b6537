"""The warehouse table `revenue`: DuckDB locally, BigQuery on the gcp profile."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from taxi_platform.resources.lake import LocalLake
from taxi_platform.tlc.months import TripMonth
from taxi_platform.tlc.schemas import REVENUE_COLUMNS, TripColumn

if TYPE_CHECKING:
    import duckdb

REVENUE_TABLE = "revenue"
# One row per (revenue_month, service_type) slice: what it was loaded from, so a rerun can tell it has nothing to do.
LOADS_TABLE = "revenue_loads"

_DUCKDB_TYPES = {"int": "INTEGER", "date": "DATE", "string": "VARCHAR", "double": "DOUBLE"}


@dataclass(frozen=True)
class LoadedSlice:
    table: str
    uri: str
    rows: int  # rows of this (month, color) slice
    table_rows: int  # rows in the whole table after the load
    bytes: int
    load_job: str | None = None  # the warehouse's id of the job that read the report files, where it has one


@dataclass(frozen=True)
class TableFacts:
    table: str
    uri: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class SliceLoad:
    """What a slice was last loaded from (the loading stage's inputs, as JSON), by which run, with how many rows."""

    inputs: str
    run_id: str
    rows: int


class RevenueWarehouse(ConfigurableResource, ABC):
    @abstractmethod
    def replace_revenue(self, report_files: list[str], trip_month: TripMonth, inputs: str, run_id: str) -> LoadedSlice:
        """Make the (month, color) slice exactly the rows of the report's files, read where they are
        (`TripBucket.data_files`); record that `run_id` loaded it from `inputs`.

        A report with rows of another slice is refused whole (`StrayRows`), the slice as it was.
        """

    @abstractmethod
    def last_load(self, trip_month: TripMonth) -> SliceLoad | None:
        """What the slice was last loaded from; None when it never was (or before loads were recorded)."""

    @abstractmethod
    def describe_table(self) -> TableFacts:
        """The revenue table's name, URI, rows and bytes now, as a load's metadata gives them."""

    @abstractmethod
    def slice_rows(self, trip_month: TripMonth) -> list[dict]:
        """The table's rows of the (revenue_month, service_type) slice, by revenue_zone."""


class DuckDBWarehouse(RevenueWarehouse):
    """A DuckDB file; one transaction deletes the slice and inserts the report, so reruns never duplicate."""

    lake: LocalLake
    database: str = Field(default="warehouse.duckdb", description="DuckDB file, relative to the lake folder.")
    lock_wait_seconds: float = Field(default=120.0, description="How long to wait for another writer.")

    @property
    def database_path(self) -> Path:
        return self.lake.path(self.database)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        database = self.database_path
        database.parent.mkdir(parents=True, exist_ok=True)
        import duckdb  # here, not at import: `import taxi_platform.definitions` stays fast

        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                return duckdb.connect(str(database))
            except duckdb.IOException as error:  # another process holds the file lock
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                get_dagster_logger().info(f"{database} is locked by another writer; waiting")
                time.sleep(1.0)

    def slice_rows(self, trip_month: TripMonth) -> list[dict]:
        with self._connect() as db:
            if not self._exists(db, REVENUE_TABLE):
                return []
            cursor = db.execute(
                f"SELECT * FROM {REVENUE_TABLE} WHERE revenue_month = ? AND service_type = ? ORDER BY revenue_zone",
                [trip_month.month, trip_month.color],
            )
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _add_missing_columns(self, db: duckdb.DuckDBPyConnection) -> None:
        """A table from before the zone names gains them; its rows stay, NULL in the new columns."""
        existing = [
            row[0]
            for row in db.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [REVENUE_TABLE]
            ).fetchall()
        ]
        for column in missing_columns(existing):
            db.execute(f"ALTER TABLE {REVENUE_TABLE} ADD COLUMN {column.name} {_DUCKDB_TYPES[column.type]}")
            get_dagster_logger().info(f"{self.database_path}: added column {column.name} to {REVENUE_TABLE}")

    def last_load(self, trip_month: TripMonth) -> SliceLoad | None:
        with self._connect() as db:
            if not self._exists(db, LOADS_TABLE):
                return None
            row = db.execute(
                f"SELECT inputs, run_id, rows FROM {LOADS_TABLE} WHERE revenue_month = ? AND service_type = ?",
                [trip_month.month, trip_month.color],
            ).fetchone()
        return SliceLoad(*row) if row else None

    def describe_table(self) -> TableFacts:
        with self._connect() as db:
            rows = _count(db, f"SELECT count(*) FROM {REVENUE_TABLE}") if self._exists(db, REVENUE_TABLE) else 0
        uri = f"duckdb://{self.database_path}#{REVENUE_TABLE}"
        return TableFacts(REVENUE_TABLE, uri, rows, self.database_path.stat().st_size)

    @staticmethod
    def _exists(db: duckdb.DuckDBPyConnection, table: str) -> bool:
        query = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
        return bool(_count(db, query, [table]))

    def replace_revenue(self, report_files: list[str], trip_month: TripMonth, inputs: str, run_id: str) -> LoadedSlice:
        require_files(report_files, trip_month)
        columns = ", ".join(c.name for c in REVENUE_COLUMNS)
        definition = ", ".join(f"{c.name} {_DUCKDB_TYPES[c.type]}" for c in REVENUE_COLUMNS)
        where = "revenue_month = ? AND service_type = ?"
        slice_key = [trip_month.month, trip_month.color]
        with self._connect() as db:
            db.execute(f"CREATE TABLE IF NOT EXISTS {REVENUE_TABLE} ({definition})")
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {LOADS_TABLE} (revenue_month DATE, service_type VARCHAR, "
                "inputs VARCHAR, run_id VARCHAR, rows BIGINT)"
            )
            self._add_missing_columns(db)
            strays = f"SELECT count(*) FROM read_parquet(?) WHERE NOT ({where})"
            reject_strays(_count(db, strays, [report_files, *slice_key]), trip_month, report_files)
            db.execute("BEGIN TRANSACTION")
            try:
                db.execute(f"DELETE FROM {REVENUE_TABLE} WHERE {where}", slice_key)
                db.execute(
                    f"INSERT INTO {REVENUE_TABLE} ({columns}) SELECT {columns} FROM read_parquet(?)", [report_files]
                )
                rows = _count(db, f"SELECT count(*) FROM {REVENUE_TABLE} WHERE {where}", slice_key)
                # In the same transaction: the record never names a load that did not happen.
                db.execute(f"DELETE FROM {LOADS_TABLE} WHERE {where}", slice_key)
                db.execute(f"INSERT INTO {LOADS_TABLE} VALUES (?, ?, ?, ?, ?)", [*slice_key, inputs, run_id, rows])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            table_rows = _count(db, f"SELECT count(*) FROM {REVENUE_TABLE}")
        table = self.describe_table()
        return LoadedSlice(table=table.table, uri=table.uri, rows=rows, table_rows=table_rows, bytes=table.bytes)


def missing_columns(existing: list[str]) -> list[TripColumn]:
    """The report's columns a table written by an earlier version lacks (added NULLABLE at its end)."""
    return [column for column in REVENUE_COLUMNS if column.name not in existing]


class StrayRows(ValueError):
    """A report holds rows of another (month, color) slice: a slice replace would let them escape it."""


def require_files(report_files: list[str], trip_month: TripMonth) -> None:
    if not report_files:
        raise FileNotFoundError(f"{trip_month.label}: the report has no parquet files")


def reject_strays(strays: int, trip_month: TripMonth, report_files: list[str]) -> None:
    """Refuse a report with rows outside the slice (counted by the warehouse): nothing is loaded."""
    if strays:
        folder = report_files[0].rsplit("/", 1)[0]
        raise StrayRows(
            f"{trip_month.label}: {folder}: {strays} report rows are not in {trip_month.label}; nothing loaded"
        )


def _count(db: duckdb.DuckDBPyConnection, query: str, parameters: list[Any] | None = None) -> int:
    """The one number a `SELECT count(*)` answers."""
    row = db.execute(query, parameters or []).fetchone()
    assert row is not None, query  # an aggregate always answers one row
    return int(row[0])
