"""Dagster entry point (`dagster dev -m taxi_platform.definitions`). Importing it starts no JVM."""

from dagster import Definitions, in_process_executor

from taxi_platform.assets import trip_assets
from taxi_platform.profile import resources_from_environment

# In-process: every Spark step of a run shares one session, so a run pays the JVM start once.
defs = Definitions(assets=trip_assets, resources=resources_from_environment(), executor=in_process_executor)
