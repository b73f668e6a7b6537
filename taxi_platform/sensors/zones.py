"""The zone lookup before the months: a sensor's first runs on a new instance would otherwise fail their report.

`revenue_report` joins the published `taxi_zones`; on an instance that never materialized it, a
sensor asks for one `taxi_zones_job` run and holds its month requests (and its cursor) until the
lookup is there, so the months it would have requested are requested on a later tick instead of
failing.
"""

from __future__ import annotations

from dagster import DagsterRunStatus, RunRequest, RunsFilter, SensorEvaluationContext, SensorResult, SkipReason

from taxi_platform.assets import taxi_zones
from taxi_platform.jobs import taxi_zones_job

_UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


def zones_first(context: SensorEvaluationContext) -> SensorResult | None:
    """None when the zone lookup is published; else a tick that asks for it (or waits for the run asking for it)."""
    if context.instance.get_latest_materialization_event(taxi_zones.key) is not None:
        return None
    running = context.instance.get_run_records(RunsFilter(job_name=taxi_zones_job.name, statuses=_UNFINISHED), limit=1)
    if running:
        return SensorResult(
            skip_reason=SkipReason(f"waiting for taxi_zones (run {running[0].dagster_run.run_id}) before any month")
        )
    context.log.info("taxi_zones was never materialized: requesting it before any month's run")
    return SensorResult(
        run_requests=[RunRequest(job_name=taxi_zones_job.name, tags={"taxi_platform/reason": "zones before months"})]
    )
