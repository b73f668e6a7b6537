"""Dagster entry point (`dagster dev -m taxi_platform.definitions`). Importing it starts no JVM."""

from dagster import Definitions, in_process_executor

from taxi_platform.assets import all_assets
from taxi_platform.checks import trip_checks
from taxi_platform.jobs import taxi_zones_job, trip_chain
from taxi_platform.profile import resources_from_environment
from taxi_platform.sensors import trip_sensors

# In-process: every Spark step of a run shares one session, so a run pays the JVM start once.
defs = Definitions(
    assets=all_assets,
    asset_checks=trip_checks,
    jobs=[trip_chain, taxi_zones_job],
    sensors=trip_sensors,
    resources=resources_from_environment(),
    executor=in_process_executor,
)
