"""What a partition must satisfy to be published: one home for the conditions, two users.

The assets audit the version they have just written, before it replaces the published one (write,
audit, publish): a failed audit leaves the previous version in place and fails the run naming the
partition, the file, the problem, the count and the first offending rows. The asset checks report
that audit in the run that wrote the version (kept with it, `audit_record`), so each month is read
once; run on their own, from the UI or the CLI, they audit what is published, so the UI keeps
reporting on what readers see.

Audits read parquet with pyarrow (no Spark, no JVM); pyarrow is imported when one runs, not at
definitions import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taxi_platform.tlc import pickup_column
from taxi_platform.tlc.months import TripMonth
from taxi_platform.tlc.schemas import ColumnType, typed_columns
from taxi_platform.tlc.zones import ZONE_COLUMNS, ZONE_ID

if TYPE_CHECKING:
    import pyarrow as pa

FIRST_OFFENDERS = 3  # offending rows quoted in a failure
QUARANTINE_AUDIT = "few_lines_quarantined"
TOTALS_REL_TOL, TOTALS_ABS_TOL = 1e-9, 1e-6


@dataclass(frozen=True)
class Audit:
    """One condition's verdict on a partition version, with what a person needs to act on it."""

    check: str  # the condition's name: that of the asset check reporting it on the published partition, if any
    passed: bool
    problem: str = ""  # one line, empty when passed: what is wrong, with the count
    metadata: dict[str, Any] = field(default_factory=dict)


def audit_record(audit: Audit) -> dict[str, Any]:
    """An audit as plain JSON, kept with the version it judged."""
    return json.loads(json.dumps(asdict(audit), default=str))


def recorded_audit(record: dict[str, Any]) -> Audit:
    return Audit(**record)


class AuditFailed(RuntimeError):
    """A written version failed its audit and was not published; the message says what and where."""


def require_passed(audits: Sequence[Audit], subject: TripMonth | str, source: str) -> None:
    """Raise `AuditFailed` naming the partition (or unpartitioned asset), the file and every failed condition."""
    failed = [audit for audit in audits if not audit.passed]
    if failed:
        label = subject if isinstance(subject, str) else subject.label
        problems = "; ".join(f"{audit.problem} ({audit.check})" for audit in failed)
        raise AuditFailed(f"{label}: {source}: not published, the previous version stays: {problems}")


def _arrow_types() -> dict[ColumnType, Callable[[pa.DataType], bool]]:
    import pyarrow as pa

    return {
        "int": pa.types.is_int32,
        "double": pa.types.is_float64,
        "timestamp": pa.types.is_timestamp,
        "date": pa.types.is_date32,
        "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    }


def schema_audit(files: ParquetFiles, month: TripMonth) -> Audit:
    """The parquet has the color's typed schema: the course's columns, then the added ones, in order and type."""
    schema = files.schema()
    arrow_types = _arrow_types()
    expected = typed_columns(month.color)
    found = {f.name: f.type for f in schema}
    wrong = {
        c.name: str(found.get(c.name, "missing"))
        for c in expected
        if c.name not in found or not arrow_types[c.type](found[c.name])
    }
    in_order = [f.name for f in schema] == [c.name for c in expected]
    problem = ""
    if wrong:
        problem = f"{len(wrong)} columns are missing or of another type: {wrong}"
    elif not in_order:
        problem = "the columns are not in the typed schema's order"
    return Audit(
        "schema_is_the_course_schema",
        passed=not problem,
        problem=problem,
        metadata={"columns": len(schema), "wrong_types": wrong, "columns_in_order": in_order},
    )


@dataclass(frozen=True)
class ParquetFiles:
    """A partition's parquet files and the pyarrow filesystem that reads them (None: the local disk).

    The lake on GCS gives its versions' files with pyarrow's GCS filesystem, so an audit reads the
    footers and the columns it needs where they are, without a copy.
    """

    paths: tuple[str, ...]
    filesystem: Any = None

    def __bool__(self) -> bool:
        return bool(self.paths)

    def schema(self) -> pa.Schema:
        import pyarrow.parquet as pq

        return pq.read_schema(self.paths[0], filesystem=self.filesystem)

    def rows(self) -> int:
        """Rows from the footers alone."""
        import pyarrow.parquet as pq

        return sum(pq.read_metadata(path, filesystem=self.filesystem).num_rows for path in self.paths)

    def table(self, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(list(self.paths), columns=columns, filesystem=self.filesystem)


def parquet_files(directory: Path | str) -> ParquetFiles:
    """The parquet files of a local partition directory (not its `_SUCCESS` or hidden files)."""
    return ParquetFiles(tuple(sorted(str(p) for p in Path(directory).resolve().glob("*.parquet"))))


def parquet_rows(files: ParquetFiles) -> int:
    """Rows of parquet files, from their footers alone."""
    return files.rows()


def rows_audit(files: ParquetFiles, raw_rows: int | None, quarantined: int = 0) -> Audit:
    """The parquet holds rows, exactly as many as the raw file has data lines less the quarantined ones."""
    rows = parquet_rows(files)
    problem = ""
    if raw_rows is None:
        problem = "the raw file is missing, so its rows cannot be counted"
    elif rows != raw_rows - quarantined or rows == 0:
        problem = f"{rows} parquet rows for {raw_rows} data lines in the raw file, {quarantined} of them quarantined"
    return Audit(
        "rows_match_raw_file",
        passed=not problem,
        problem=problem,
        metadata={
            "parquet_rows": rows,
            "raw_rows": raw_rows if raw_rows is not None else "raw file missing",
            "quarantined_lines": quarantined,
        },
    )


def quarantine_audit(quarantine_files: ParquetFiles, data_lines: int, max_share: float) -> Audit:
    """At most `max_share` of the month's data lines could not be parsed (the rest is a partition worth keeping)."""
    count = parquet_rows(quarantine_files)
    share = count / data_lines if data_lines else 0.0
    first = quarantine_files.table().slice(0, FIRST_OFFENDERS).to_pylist() if count else []
    problem = ""
    if share > max_share:
        quoted = "; ".join(f"line {row['line']}: {row['text']!r} ({row['reason']})" for row in first)
        problem = (
            f"{count} of {data_lines} data lines could not be parsed ({share:.2%}, more than the {max_share:.2%} "
            f"allowed); first: {quoted}"
        )
    return Audit(
        QUARANTINE_AUDIT,
        passed=not problem,
        problem=problem,
        metadata={
            "quarantined_lines": count,
            "share": share,
            "max_share": max_share,
            "first_quarantined": [f"line {row['line']}: {row['text']} ({row['reason']})" for row in first],
        },
    )


def null_keys_audit(files: ParquetFiles, month: TripMonth) -> Audit:
    """No trip lacks its pickup time, pickup zone or drop-off zone."""
    import pyarrow.compute as pc

    columns = [pickup_column(month.color), "PULocationID", "DOLocationID"]
    keys = files.table(columns)
    nulls = {name: keys.column(name).null_count for name in columns}
    problem, first = "", []
    if any(nulls.values()):
        masks = [pc.is_null(keys.column(name)) for name in columns]
        missing = pc.or_(pc.or_(masks[0], masks[1]), masks[2])
        first = files.table().filter(missing).slice(0, FIRST_OFFENDERS).to_pylist()
        counts = ", ".join(f"{count} NULL {name}" for name, count in nulls.items() if count)
        problem = f"{counts}; first rows: {_rows(first)}"
    return Audit(
        "no_null_pickup_or_zones",
        passed=not problem,
        problem=problem,
        metadata={"nulls_by_column": nulls, "first_offending_rows": [str(row) for row in first]},
    )


def typed_trips_audits(
    files: ParquetFiles, month: TripMonth, raw_rows: int | None, quarantine_files: ParquetFiles, max_share: float
) -> list[Audit]:
    """The blocking conditions of a typed_trips version and its quarantine."""
    if not files:
        return [Audit("rows_match_raw_file", passed=False, problem="no parquet files were written")]
    quarantine = quarantine_audit(quarantine_files, raw_rows or 0, max_share)
    return [
        quarantine,
        schema_audit(files, month),
        rows_audit(files, raw_rows, quarantine.metadata["quarantined_lines"]),
        null_keys_audit(files, month),
    ]


def pickups_in_month(pickups: pa.ChunkedArray, month: TripMonth) -> pa.ChunkedArray:
    """True where the pickup is in [start, end) of the month; NULL pickups count as outside."""
    import pyarrow as pa
    import pyarrow.compute as pc

    naive = pickups.cast(pa.timestamp("us"))
    return pc.fill_null(pc.and_(pc.greater_equal(naive, month.start), pc.less(naive, month.end)), False)


def totals_audit(report_files: ParquetFiles, typed_files: ParquetFiles, month: TripMonth) -> Audit:
    """The report's total revenue equals total_amount over the typed trips picked up in the month."""
    import pyarrow.compute as pc

    trips = typed_files.table([pickup_column(month.color), "total_amount"])
    in_month = pickups_in_month(trips.column(0), month)
    return report_total_audit(report_files, pc.sum(pc.filter(trips.column("total_amount"), in_month)).as_py() or 0.0)


def report_total_audit(report_files: ParquetFiles, trips_in_month_total: float) -> Audit:
    """The report's total revenue equals the in-month total_amount of the trips it was built from."""
    import pyarrow.compute as pc

    reported = 0.0
    if report_files:
        column = report_files.table(["revenue_monthly_total_amount"]).column(0)
        reported = pc.sum(column).as_py() or 0.0
    expected = float(trips_in_month_total)
    problem = ""
    if not report_files:
        problem = "no report parquet files were written"
    elif not totals_close(expected, float(reported)):
        problem = f"the report's total revenue {reported!r} is not its trips' in-month total_amount {expected!r}"
    return Audit(
        "total_matches_typed_trips",
        passed=not problem,
        problem=problem,
        metadata={"typed_in_month_total_amount": expected, "report_total_amount": reported},
    )


def zones_audit(files: ParquetFiles, lookup_rows: int) -> Audit:
    """The typed zones hold every row of the checked lookup, with the lookup's columns and types, each id once."""
    import pyarrow.compute as pc

    table = files.table() if files else None
    arrow_types = _arrow_types()
    problem = ""
    if table is None:
        problem = "no zone parquet files were written"
    else:
        found = {f.name: f.type for f in table.schema}
        wrong = [c.name for c in ZONE_COLUMNS if c.name not in found or not arrow_types[c.type](found[c.name])]
        if wrong or list(found) != [c.name for c in ZONE_COLUMNS]:
            problem = f"columns {list(found)} are not the lookup's {[c.name for c in ZONE_COLUMNS]} (wrong: {wrong})"
        elif table.num_rows != lookup_rows:
            problem = f"{table.num_rows} typed zones for {lookup_rows} rows in the lookup"
        elif table.column(ZONE_ID).null_count or pc.count_distinct(table.column(ZONE_ID)).as_py() != table.num_rows:
            problem = "a LocationID is NULL or repeated"
    return Audit(
        "zones_match_lookup",
        passed=not problem,
        problem=problem,
        metadata={"zones": table.num_rows if table is not None else 0, "lookup_rows": lookup_rows},
    )


def totals_close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOTALS_REL_TOL, abs_tol=TOTALS_ABS_TOL)


def _rows(rows: list[dict[str, Any]]) -> str:
    return "; ".join(", ".join(f"{k}={v}" for k, v in row.items() if v is not None) for row in rows)
