"""The five month x color assets, one module each, chained in this order, and the zone lookup they name zones with."""

from taxi_platform.assets.bigquery_revenue import bigquery_revenue
from taxi_platform.assets.gcs_trips import gcs_trips
from taxi_platform.assets.raw_trips import raw_trips
from taxi_platform.assets.revenue_report import revenue_report
from taxi_platform.assets.taxi_zones import taxi_zones
from taxi_platform.assets.typed_trips import typed_trips

trip_assets = [raw_trips, typed_trips, gcs_trips, revenue_report, bigquery_revenue]
# Not partitioned, not in `trip_chain`: materialized once (and when the TLC changes its zones), before the reports.
all_assets = [taxi_zones, *trip_assets]

__all__ = [
    "all_assets",
    "bigquery_revenue",
    "gcs_trips",
    "raw_trips",
    "revenue_report",
    "taxi_zones",
    "trip_assets",
    "typed_trips",
]
