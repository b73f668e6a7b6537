"""One run over many months: each month is done by itself and recorded against its own partition.

A backfill with `BackfillPolicy.single_run()` gives a step every month of one color in a range
(`context.partition_keys`). Dagster records one materialization per partition when the step
returns, with `MaterializeResult.metadata` shared by all of them, and an `AssetCheckResult` without
a partition in such a run. So each month's outcome, a `MaterializeResult` with its metadata and its
check results, is recorded here instead: its metadata with `add_asset_metadata(partition_key=...)`,
its checks as `AssetCheckEvaluation`s with the partition named, after the materializations.

A month that fails does not stop the others. When any failed, the step cannot return (returning
would record every month as materialized), so the good months are logged as explicit
`AssetMaterialization`s with their metadata, then the step fails with one line naming every failed
month and its problem. A run of one partition fails with the month's own error, as it always did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
)

from taxi_platform.failures import first_line
from taxi_platform.partitions import trip_month_of
from taxi_platform.resources.spark import RangeRun
from taxi_platform.tlc.months import TripMonth

RangeEvent = MaterializeResult | AssetMaterialization | AssetCheckEvaluation | Output
CheckEvent = AssetCheckEvaluation | Output
Plan = TypeVar("Plan")


@dataclass(frozen=True)
class Kept(Generic[Plan]):
    """A month made before from the same inputs: kept, with its record (`unchanged.kept_record`)."""

    plan: Plan
    record: dict[str, Any]


@dataclass(frozen=True)
class Together:
    """What one Spark job over many months wrote (each month's folder under `output`) and observed."""

    output: str
    run: RangeRun


def run_together(
    context: AssetExecutionContext, months: Sequence[TripMonth], output: str, job: Callable[[], RangeRun]
) -> Together | None:
    """Run a stage's job over many months; None when it fails, so that each month is then done (and fails) alone."""
    stage, first, last = context.asset_key.to_user_string(), months[0], months[-1]
    context.log.info(f"{stage}: {len(months)} months, {first.label} to {last.yyyy_mm}, in one Spark job")
    try:
        return Together(output, job())
    except Exception as error:
        context.log.warning(f"{stage}: the job over {len(months)} months failed ({first_line(error)}); each alone")
        return None


Outcome = TypeVar("Outcome", MaterializeResult, AssetCheckResult | None)


@dataclass(frozen=True)
class _Done(Generic[Outcome]):
    key: str  # the month's partition key
    outcome: Outcome


def each_month(
    context: AssetExecutionContext, one_month: Callable[[TripMonth], MaterializeResult], at_once: int = 1
) -> Iterator[RangeEvent]:
    """Run `one_month` for every month of the run, `at_once` at a time, and record each on its own partition
    (see the module)."""
    asset = context.asset_key.to_user_string()
    done, failed = _run_months(context, one_month, asset, at_once)
    selected_keys = context.selected_asset_check_keys
    selected = {spec.name: spec for spec in context.assets_def.check_specs if spec.key in selected_keys}
    if failed:
        for one in done:
            yield AssetMaterialization(asset_key=context.asset_key, partition=one.key, metadata=one.outcome.metadata)
    else:
        for one in done:
            context.add_asset_metadata(dict(one.outcome.metadata or {}), partition_key=one.key)
        # One materialization per partition, each with the metadata added above. Dagster gives every
        # partition of a range the same data version, so a month's own (a file's sha256) is kept only
        # when the run has that one month; in a range each month's metadata says what it was made from.
        version = done[0].outcome.data_version if len(done) == 1 else None
        yield MaterializeResult(data_version=version)
    # After the materializations, so each evaluation is of the version just written.
    for one in done:
        for result in one.outcome.check_results or []:
            if result.check_name in selected:  # a check left out of the run's selection is not recorded
                yield evaluation(selected[result.check_name], result, one.key)
    _raise_failed(asset, len(done) + len(failed), failed)
    yield from _check_outputs(context.assets_def, selected.values())


def each_partition(
    context: AssetCheckExecutionContext, one_month: Callable[[TripMonth], AssetCheckResult | None]
) -> Iterator[CheckEvent]:
    """Evaluate a partitioned `@asset_check` on every month of the run, one evaluation per partition (none for a
    month whose `one_month` is None: kept unchanged by this run, its evaluations stand)."""
    [spec] = context.check_specs
    done, failed = _run_months(context, one_month, spec.name)
    for one in done:
        if one.outcome is not None:
            yield evaluation(spec, one.outcome, one.key)
    _raise_failed(spec.name, len(done) + len(failed), failed)
    yield from _check_outputs(context.op_execution_context.assets_def, [spec])


def evaluation(spec: AssetCheckSpec, result: AssetCheckResult, partition: str) -> AssetCheckEvaluation:
    """`result` as the evaluation of `spec` on `partition` (an `AssetCheckResult` has no partition of its own)."""
    return AssetCheckEvaluation(
        asset_key=spec.asset_key,
        check_name=spec.name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
        blocking=spec.blocking,
        partition=partition,
    )


def _check_outputs(assets_def: AssetsDefinition, specs: Iterable[AssetCheckSpec]) -> Iterator[Output]:
    """The step's output of each check: Dagster requires one per check, and records no evaluation from it."""
    for spec in specs:
        yield Output(None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key))


def _run_months(
    context: AssetExecutionContext | AssetCheckExecutionContext,
    one_month: Callable[[TripMonth], Outcome],
    what: str,
    at_once: int = 1,
) -> tuple[list[_Done[Outcome]], list[tuple[TripMonth, Exception]]]:
    """Every month of the run, `at_once` at a time, in order: those done with their outcome, those failed with
    their error."""
    keys = context.partition_keys
    if len(keys) == 1:  # one partition: its own error, exactly as a run of one month reports it
        month = trip_month_of(keys[0])
        context.log.info(f"1/1 {month.label}: {what}")
        return [_Done(str(keys[0]), one_month(month))], []

    def attempt(numbered: tuple[int, str]) -> _Done[Outcome] | tuple[TripMonth, Exception]:
        i, key = numbered
        month = trip_month_of(key)
        context.log.info(f"{i}/{len(keys)} {month.label}: {what}")
        try:
            return _Done(str(key), one_month(month))
        except Exception as error:
            context.log.error(f"{i}/{len(keys)} {month.label}: {what} failed: {first_line(error)}")
            return month, error

    with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix=what) as pool:
        outcomes = list(pool.map(attempt, enumerate(keys, 1)))
    done = [outcome for outcome in outcomes if isinstance(outcome, _Done)]
    failed = [outcome for outcome in outcomes if not isinstance(outcome, _Done)]
    return done, failed


def _raise_failed(what: str, months: int, failed: Sequence[tuple[TripMonth, Exception]]) -> None:
    """Fail the step with a first line naming every failed month and its problem."""
    if not failed:
        return
    problems = []
    for month, error in failed:
        problem = first_line(error)
        problems.append(problem if problem.startswith(month.label) else f"{month.label}: {problem}")
    raise Failure(
        description=f"{what}: {len(failed)} of {months} months failed: " + "; ".join(problems),
        metadata={"failed_partitions": MetadataValue.json([month.label for month, _ in failed])},
    ) from failed[0][1]
