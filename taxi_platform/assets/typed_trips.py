from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    asset,
)
from pydantic import Field

from taxi_platform.assets.metadata import column_schema, location, stored
from taxi_platform.assets.ranges import Kept, RangeEvent, Together, each_month, run_together
from taxi_platform.assets.raw_trips import raw_trips
from taxi_platform.assets.unchanged import (
    derived_version,
    kept_metadata,
    kept_record,
    raw_file,
    stage_record,
)
from taxi_platform.audits import QUARANTINE_AUDIT, audit_record, require_passed, typed_trips_audits
from taxi_platform.failures import named_failures, require_upstream
from taxi_platform.partitions import partition_key, trip_month_of, trip_partitions
from taxi_platform.resources import Lake, SparkResource
from taxi_platform.spark.stages import EMPTY_QUARANTINE, StageResult, partition_folder
from taxi_platform.tlc import TripMonth

# Bump when the typed output changes for the same raw file (the schema, the parsing, the quarantine, the
# audits): partitions typed by another code version are typed again, and Dagster shows them stale.
TYPED_TRIPS_CODE_VERSION = "1"


class TypedTripsConfig(Config):
    partitions: int = Field(
        default=4,
        ge=1,
        description="Parquet files per month: a CSV month is cut into this many parts, each parsed by its own "
        "Spark task and written as one file (no shuffle); a parquet month is read in up to this many splits.",
    )
    max_quarantined_share: float = Field(
        default=0.001,
        ge=0.0,
        le=1.0,
        description="Largest share of a month's lines that may be quarantined; above it the month is not published.",
    )


@asset(
    partitions_def=trip_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=[raw_trips],
    code_version=TYPED_TRIPS_CODE_VERSION,
    group_name="trips",
    kinds={"spark", "parquet"},
    check_specs=[
        AssetCheckSpec(
            "all_values_parsed",
            asset="typed_trips",
            partitions_def=trip_partitions,
            description="Every number is of its column's type (an integer column's `1.5` or 2**40 is kept as NULL).",
        ),
        AssetCheckSpec(
            "no_unknown_columns",
            asset="typed_trips",
            partitions_def=trip_partitions,
            description="The raw file has no column the platform does not know (one it has is left out, not an error).",
        ),
        AssetCheckSpec(
            "no_lines_quarantined",
            asset="typed_trips",
            partitions_def=trip_partitions,
            description="Every row of the raw file is a trip (rows that are not are in the partition's quarantine).",
        ),
    ],
    description=(
        "The raw file, CSV or parquet, typed with the color's one schema (the course's columns and types, "
        "then the columns the TLC added), at `pq/{color}/{YYYY}/{MM}/`. Integer columns accept `1`, `1.0` "
        "and any integer type; a column a year lacks is NULL, one the platform does not know is left out. "
        "Every trip is kept, including those with an empty VendorID and pickups outside the month."
    ),
)
def typed_trips(
    context: AssetExecutionContext, config: TypedTripsConfig, spark: SparkResource, lake: Lake
) -> Iterator[RangeEvent]:
    plans = {str(key): typed_plan(trip_month_of(key), context, config, lake) for key in context.partition_keys}
    # A range's CSV months are typed together; a parquet month (read with its own types) is typed alone.
    together = [plan for plan in plans.values() if isinstance(plan, TypedInputs) and not plan.raw.endswith(".parquet")]
    with lake.staging_area("typed_trips") if len(together) > 1 else nullcontext() as area:
        built = None
        if area is not None:
            output = f"{area}/output"
            inputs = [(plan.month, lake.uri(plan.raw), plan.rows) for plan in together]
            job = partial(spark.run_typed_trips_range, inputs, output, config.partitions)
            built = run_together(context, [plan.month for plan in together], output, job)

        def one_month(month: TripMonth) -> MaterializeResult:
            return typed_trips_month(month, plans[str(partition_key(month))], context, config, spark, lake, built)

        yield from each_month(context, one_month)


@dataclass(frozen=True)
class TypedInputs:
    """A month to type: its raw file (its zone path), its data lines, and what its typed partition is made from."""

    month: TripMonth
    raw: str
    rows: int
    inputs: dict[str, Any] | None


def typed_plan(
    month: TripMonth, context: AssetExecutionContext, config: TypedTripsConfig, lake: Lake
) -> TypedInputs | Kept[TypedInputs] | Exception:
    """What a month needs: its raw file to type, its record to keep it, or the error that stops it."""
    try:
        raw = raw_file(lake, month)
        missing = " or ".join(lake.uri(p) for p in month.raw_paths)
        require_upstream(raw is not None, missing, "raw_trips", month)
        assert raw is not None  # require_upstream raised otherwise
        with named_failures(month, lake.uri(raw.path)):  # raw_trips' record; a file copied in by hand is read here
            rows = raw.rows(lake, month)
        plan = TypedInputs(month, raw.path, rows, raw.typed_inputs(TYPED_TRIPS_CODE_VERSION, config.model_dump()))
        finished = lake.record(month.typed_path) if lake.is_finished(month.typed_path) else None
        kept = kept_record(context, month.typed_path, finished, plan.inputs)
        return plan if kept is None else Kept(plan, kept)
    except Exception as error:  # raised again as that month's own failure, its neighbours going on
        return error


def typed_trips_month(
    month: TripMonth,
    plan: TypedInputs | Kept[TypedInputs] | Exception,
    context: AssetExecutionContext,
    config: TypedTripsConfig,
    spark: SparkResource,
    lake: Lake,
    built: Together | None,
) -> MaterializeResult:
    """One month of typed_trips: its metadata and its three checks, as a run of that one partition records them."""
    if isinstance(plan, Exception):
        raise plan
    if isinstance(plan, Kept):
        # The same raw file, code and config: no Spark, the partition untouched, no check evaluated again.
        result = StageResult.from_dict(plan.record["result"])
        return MaterializeResult(
            metadata={
                **typed_metadata(month, lake, result, plan.record["quarantined_lines"]),
                **kept_metadata(plan.record),
            },
            data_version=derived_version(plan.plan.inputs),
        )
    raw, inputs, rows = lake.uri(plan.raw), plan.inputs, plan.rows
    folder = partition_folder(month)
    ranged = built if built is not None and folder in built.run.results else None
    if built is not None and ranged is None:
        context.log.info(f"{raw}: the range's pass missed a line, or it has lines to quarantine: typed alone")
    # Write aside, audit, publish: a version that fails its audit never replaces the published one.
    with (
        named_failures(month, raw),
        lake.replace_directory(month.typed_path) as staging,
        lake.replace_directory(month.quarantine_path) as quarantine,
    ):
        if ranged is not None:
            result, placement = ranged.run.results[folder], ranged.run.placement
            lake.move_into(f"{ranged.output}/{folder}", staging)
            lake.move_into(f"{ranged.output}/{EMPTY_QUARANTINE}", quarantine, copy=True)
        else:
            context.log.info(f"Typing {raw} into {config.partitions} parquet files")
            run = spark.run_typed_trips(raw, str(staging), month, config.partitions, str(quarantine), rows)
            result, placement = run.result, run.placement
        audits = typed_trips_audits(
            lake.parquet_files(staging), month, rows, lake.parquet_files(quarantine), config.max_quarantined_share
        )
        require_passed(audits, month, raw)
    [quarantined] = [audit for audit in audits if audit.check == QUARANTINE_AUDIT]
    lines = quarantined.metadata["quarantined_lines"]
    metadata = typed_metadata(month, lake, result, lines)
    unparsed = {name: count for name, count in result.observed["unparsed_values"].items() if count}
    if unparsed:
        context.log.warning(f"{raw}: numbers that are not of their column's type, kept as NULL: {unparsed}")
    unknown, missing = result.observed["unknown_columns"], result.observed["missing_columns"]
    if unknown:
        context.log.warning(f"{raw}: columns the platform does not know, left out of the typed schema: {unknown}")
    if missing:
        context.log.info(f"{raw}: typed columns the file does not have, NULL in this month: {missing}")
    if lines:
        context.log.warning(f"{raw}: {lines} lines quarantined in {lake.uri(month.quarantine_path)}")
    # Beside the version just published: what the next run compares its inputs with.
    audited = {audit.check: audit_record(audit) for audit in audits}  # the checks of this run report these
    lake.keep_record(staging, stage_record(inputs, result, context.run_id, quarantined_lines=lines, audits=audited))
    return MaterializeResult(
        metadata={**metadata, **placement},
        check_results=[
            AssetCheckResult(
                check_name="all_values_parsed",
                passed=not unparsed,
                severity=AssetCheckSeverity.WARN,
                metadata={"unparsed_by_column": unparsed or {}},
            ),
            AssetCheckResult(
                check_name="no_unknown_columns",
                passed=not unknown,
                severity=AssetCheckSeverity.WARN,
                metadata={"unknown_columns": unknown, "file": raw},
            ),
            AssetCheckResult(
                check_name="no_lines_quarantined",
                passed=not lines,
                severity=AssetCheckSeverity.WARN,
                metadata=quarantined.metadata,
            ),
        ],
        data_version=derived_version(inputs),
    )


def typed_metadata(month: TripMonth, lake: Lake, result: StageResult, quarantined_lines: int) -> dict[str, Any]:
    """A typed partition's metadata from its stage's result: the same whether it was just written or kept."""
    unparsed = sum(result.observed["unparsed_values"].values())
    return {
        **stored(lake.describe(month.typed_path)),
        "dagster/row_count": result.rows,
        "dagster/column_schema": column_schema(result.columns),
        "pickups_outside_month": result.observed["pickups_outside_month"],
        "unparsed_values": unparsed,
        "quarantined_lines": quarantined_lines,
        "source_format": result.observed["source_format"],
        # fields: typed by the pass without line numbers; lines: read line by line (exact reasons and numbers)
        "read_by": result.observed["read_by"],
        "unknown_columns": ", ".join(result.observed["unknown_columns"]) or "none",
        "missing_columns": ", ".join(result.observed["missing_columns"]) or "none",
        "quarantine": location(lake.uri(month.quarantine_path)),
    }
