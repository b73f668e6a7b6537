from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, asset

from taxi_platform.assets.metadata import bucket_location, column_schema, download_metadata, location, markdown_table
from taxi_platform.audits import parquet_files, require_passed, zones_audit
from taxi_platform.failures import named_failures
from taxi_platform.resources import Lake, SparkResource, TripBucket, TripSource
from taxi_platform.tlc.sources import ZONES_FILE
from taxi_platform.tlc.zones import RAW_ZONES_PATH, ZONES_PREFIX, inspect_zone_file

ZONES = "taxi_zones"


@asset(
    group_name="zones",
    kinds={"csv", "spark", "parquet"},
    description=(
        "The TLC's taxi zone lookup (LocationID -> Borough, Zone, service_zone), not partitioned: downloaded "
        "from the first source that publishes `misc/taxi_zone_lookup.csv` to `raw/zones/`, checked (the four "
        "columns, rows, integer ids, each id once) before it replaces the previous copy, then typed and "
        "published as parquet to the bucket at `zones/`. revenue_report names each pickup zone with it; "
        "materialize it once before the first report, and again when the TLC changes its zones."
    ),
)
def taxi_zones(
    context: AssetExecutionContext, trip_source: TripSource, lake: Lake, spark: SparkResource, bucket: TripBucket
) -> MaterializeResult:
    with named_failures(ZONES, ZONES_FILE):
        published = trip_source.locate_zones()
    # Checked before it replaces the previous copy: a bad lookup leaves the published zones as they were.
    with named_failures(ZONES, published.url), lake.replace_file(RAW_ZONES_PATH) as download:
        context.log.info(f"Downloading the zone lookup from {published.source} ({published.url}) to {download.name}")
        fetched = trip_source.fetch(published, download)
        assert fetched is not None, "a GET without a copy held to compare with always downloads"
        facts = inspect_zone_file(download.open_read, name=fetched.url)
    raw = lake.uri(RAW_ZONES_PATH)

    def audit(written: Path) -> None:
        """Runs before publishing: the typed zones hold exactly the lookup's rows, ids once."""
        require_passed([zones_audit(parquet_files(written), facts.rows)], ZONES, raw)

    with named_failures(ZONES, str(raw)), bucket.replace_prefix(ZONES_PREFIX, audit=audit) as staging:
        run = spark.run_taxi_zones(raw, staging)
    written = bucket.describe(ZONES_PREFIX)
    context.log.info(f"Published {run.result.rows} zones to {written.uri}")
    return MaterializeResult(
        metadata={
            **bucket_location(written),
            **download_metadata(fetched),
            "raw_path": location(raw),
            **run.placement,
            "dagster/row_count": run.result.rows,
            "dagster/column_schema": column_schema(run.result.columns),
            "preview": markdown_table(run.result.preview),
        }
    )
