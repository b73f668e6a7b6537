"""The jobs the sensors target: the whole chain for one month x color, in one run; the zone lookup once."""

from dagster import AssetSelection, define_asset_job

from taxi_platform.assets import taxi_zones, trip_assets
from taxi_platform.partitions import trip_partitions

# One run per partition over all five stages (and their checks): with the in-process executor the
# run's Spark steps share one session, and a failed stage stops the stages below it. `taxi_zones` is not in
# it: a month's run reads the published zones and does not redo them.
trip_chain = define_asset_job(
    "trip_chain",
    selection=AssetSelection.assets(*trip_assets),
    partitions_def=trip_partitions,
    description="raw_trips -> typed_trips -> gcs_trips -> revenue_report -> bigquery_revenue for one month x color.",
)

# What a sensor runs first on an instance that never had the zone lookup: every month's report names its zones.
taxi_zones_job = define_asset_job(
    "taxi_zones_job",
    selection=AssetSelection.assets(taxi_zones),
    description="taxi_zones: the zone lookup, downloaded from the first source that has it, typed and published.",
)
