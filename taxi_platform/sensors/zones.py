"""The zone lookup before the months: a sensor's first runs on a new instance would otherwise fail their report.

`revenue_report` joins the published `taxi_zones`; on an instance that never materialized it, a
sensor asks for one `taxi_zones_job` run and holds its month requests (and its cursor) until the
lookup is there, so the months it would have requested are requested on a later tick instead of
failing. A zones run that failed is asked for again only after a backoff that doubles with each
failure (up to an hour), each attempt under its own run key, so a broken lookup is not requested
every tick.
"""

from __future__ import annotations

import time

from dagster import DagsterRunStatus, RunRequest, RunsFilter, SensorEvaluationContext, SensorResult, SkipReason

from taxi_platform.assets import taxi_zones
from taxi_platform.jobs import taxi_zones_job

_UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
RETRY_SECONDS = 60.0  # after the first failed zones run; doubled after each further one
MAX_RETRY_SECONDS = 3600.0
_COUNTED_FAILURES = 7  # 60 s * 2**6 is past the cap: older failures change nothing


def retry_wait(failures: int) -> float:
    """Seconds to wait after the latest of `failures` failed zones runs before asking again."""
    return 0.0 if failures == 0 else min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2 ** (failures - 1))


def zones_first(context: SensorEvaluationContext) -> SensorResult | None:
    """None when the zone lookup is published; else a tick that asks for it (or waits for the run asking for it)."""
    if context.instance.get_latest_materialization_event(taxi_zones.key) is not None:
        return None
    running = context.instance.get_run_records(RunsFilter(job_name=taxi_zones_job.name, statuses=_UNFINISHED), limit=1)
    if running:
        return SensorResult(
            skip_reason=SkipReason(f"waiting for taxi_zones (run {running[0].dagster_run.run_id}) before any month")
        )
    failed = context.instance.get_run_records(
        RunsFilter(job_name=taxi_zones_job.name, statuses=[DagsterRunStatus.FAILURE]), limit=_COUNTED_FAILURES
    )
    if failed:
        latest = failed[0]
        wait = retry_wait(len(failed)) - (time.time() - (latest.end_time or latest.create_timestamp.timestamp()))
        if wait > 0:
            return SensorResult(
                skip_reason=SkipReason(
                    f"taxi_zones run {latest.dagster_run.run_id} failed ({len(failed)} failed so far): "
                    f"asking again in {wait:.0f} s; no month before the zone lookup"
                )
            )
    context.log.info("taxi_zones was never materialized: requesting it before any month's run")
    return SensorResult(
        run_requests=[
            RunRequest(
                job_name=taxi_zones_job.name,
                run_key=f"taxi_zones-attempt-{len(failed) + 1}",
                tags={"taxi_platform/reason": "zones before months"},
            )
        ]
    )
