"""The five month x color assets, one module each, chained in this order."""

from taxi_platform.assets.bigquery_revenue import bigquery_revenue
from taxi_platform.assets.gcs_trips import gcs_trips
from taxi_platform.assets.raw_trips import raw_trips
from taxi_platform.assets.revenue_report import revenue_report
from taxi_platform.assets.typed_trips import typed_trips

trip_assets = [raw_trips, typed_trips, gcs_trips, revenue_report, bigquery_revenue]

__all__ = ["bigquery_revenue", "gcs_trips", "raw_trips", "revenue_report", "trip_assets", "typed_trips"]
