"""The warehouse table on BigQuery (imported by the gcp profile only: the client library is slow to import)."""

from __future__ import annotations

import time
import uuid

from dagster import get_dagster_logger
from google.api_core.exceptions import NotFound
from google.cloud import bigquery as bq  # `bigquery` is the resource field below
from google.cloud.bigquery.table import RowIterator
from pydantic import Field

from taxi_platform.resources.gcp.clients import BigQueryClient
from taxi_platform.resources.warehouse import (
    LOADS_TABLE,
    REVENUE_TABLE,
    LoadedSlice,
    RevenueWarehouse,
    SliceLoad,
    TableFacts,
    missing_columns,
    reject_strays,
    require_files,
)
from taxi_platform.tlc.months import TripMonth
from taxi_platform.tlc.schemas import REVENUE_COLUMNS

_BIGQUERY_TYPES = {"int": "INT64", "date": "DATE", "string": "STRING", "double": "FLOAT64"}
_CONCURRENT_UPDATE = "concurrent update"
_SLICE = "revenue_month = @month AND service_type = @color"  # a (month, color) slice, with `_slice_parameters`


class BigQueryWarehouse(RevenueWarehouse):
    """A BigQuery dataset (google-cloud-bigquery through dagster-gcp's resource).

    The table is partitioned by `revenue_month` (monthly) and clustered by `service_type`. A load
    job puts the report into a staging table; one MERGE then deletes the slice's old rows and
    inserts the new ones, so a reader, a rerun or a concurrent rerun sees the old slice or the new
    one, never both or neither.
    """

    bigquery: BigQueryClient
    dataset: str = Field(description="Dataset holding the `revenue` table (created if missing).")
    merge_attempts: int = Field(default=5, ge=1, description="Tries when a concurrent MERGE wins the table.")

    def replace_revenue(self, report_files: list[str], trip_month: TripMonth, inputs: str, run_id: str) -> LoadedSlice:
        """One load job reads the report's `gs://` files where they are: nothing passes through this machine."""
        require_files(report_files, trip_month)
        schema = [bq.SchemaField(c.name, _BIGQUERY_TYPES[c.type]) for c in REVENUE_COLUMNS]
        log = get_dagster_logger()
        with self.bigquery.get_client() as client:
            table_id = self._ensure_table(client, schema)
            staging = f"{client.project}.{self.dataset}._load_{trip_month.local_name[:-7]}_{uuid.uuid4().hex[:8]}"
            try:
                load = bq.LoadJobConfig(
                    schema=schema,
                    source_format=bq.SourceFormat.PARQUET,
                    write_disposition=bq.WriteDisposition.WRITE_EMPTY,
                )
                job = client.load_table_from_uri(report_files, staging, job_config=load)
                job.result()
                log.info(f"Load job {job.job_id} read {len(report_files)} report files into {staging}")
                strays = _query(client, f"SELECT count(*) FROM `{staging}` WHERE NOT ({_SLICE})", trip_month)
                reject_strays(int(next(iter(strays))[0]), trip_month, report_files)
                self._merge(client, table_id, staging, trip_month)
            finally:
                client.delete_table(staging, not_found_ok=True)
            rows = self._count(client, table_id, trip_month)
            self._record_load(client, trip_month, SliceLoad(inputs, run_id, rows))
            table = client.get_table(table_id)
        return LoadedSlice(
            table=table_id,
            uri=f"bigquery://{table_id}",
            rows=rows,
            table_rows=int(table.num_rows or 0),
            bytes=int(table.num_bytes or 0),
            load_job=job.job_id,
        )

    def last_load(self, trip_month: TripMonth) -> SliceLoad | None:
        with self.bigquery.get_client() as client:
            loads = f"{client.project}.{self.dataset}.{LOADS_TABLE}"
            try:
                client.get_table(loads)
            except NotFound:
                return None
            rows = list(_query_slice(client, f"SELECT inputs, run_id, rows FROM `{loads}`", trip_month))
        return SliceLoad(rows[0]["inputs"], rows[0]["run_id"], int(rows[0]["rows"])) if rows else None

    def describe_table(self) -> TableFacts:
        with self.bigquery.get_client() as client:
            table_id = f"{client.project}.{self.dataset}.{REVENUE_TABLE}"
            table = client.get_table(table_id)
        return TableFacts(table_id, f"bigquery://{table_id}", int(table.num_rows or 0), int(table.num_bytes or 0))

    def _record_load(self, client: bq.Client, trip_month: TripMonth, load: SliceLoad) -> None:
        """After the MERGE, not with it: a crash between them leaves the old record, so the next run loads again."""
        loads = bq.Table(
            f"{client.project}.{self.dataset}.{LOADS_TABLE}",
            schema=[
                bq.SchemaField("revenue_month", "DATE"),
                bq.SchemaField("service_type", "STRING"),
                bq.SchemaField("inputs", "STRING"),
                bq.SchemaField("run_id", "STRING"),
                bq.SchemaField("rows", "INT64"),
            ],
        )
        table_id = client.create_table(loads, exists_ok=True).full_table_id.replace(":", ".")
        parameters = [
            *_slice_parameters(trip_month),
            bq.ScalarQueryParameter("inputs", "STRING", load.inputs),
            bq.ScalarQueryParameter("run_id", "STRING", load.run_id),
            bq.ScalarQueryParameter("rows", "INT64", load.rows),
        ]
        self._dml(client, table_id, f"DELETE FROM `{table_id}` WHERE {_SLICE}", parameters)
        self._dml(
            client, table_id, f"INSERT INTO `{table_id}` VALUES (@month, @color, @inputs, @run_id, @rows)", parameters
        )

    def slice_rows(self, trip_month: TripMonth) -> list[dict]:
        with self.bigquery.get_client() as client:
            table_id = f"{client.project}.{self.dataset}.{REVENUE_TABLE}"
            try:
                client.get_table(table_id)
            except NotFound:
                return []
            rows = _query_slice(client, f"SELECT * FROM `{table_id}`", trip_month, "ORDER BY revenue_zone")
            return [dict(row.items()) for row in rows]

    def _ensure_table(self, client: bq.Client, schema: list[bq.SchemaField]) -> str:
        client.create_dataset(f"{client.project}.{self.dataset}", exists_ok=True)
        table = bq.Table(f"{client.project}.{self.dataset}.{REVENUE_TABLE}", schema=schema)
        table.time_partitioning = bq.TimePartitioning(type_=bq.TimePartitioningType.MONTH, field="revenue_month")
        table.clustering_fields = ["service_type"]
        table = client.create_table(table, exists_ok=True)
        self._add_missing_columns(client, table)
        return table.full_table_id.replace(":", ".")

    def _add_missing_columns(self, client: bq.Client, table: bq.Table) -> None:
        """A table from before the zone names gains them as NULLABLE columns; its rows stay, NULL in them.

        The schema update is BigQuery's way; the `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` after it is a
        no-op there, and what makes the bqemulator (whose schema update changes only its metadata) store them.
        """
        missing = missing_columns([field.name for field in table.schema])
        if not missing:
            return
        table_id = table.full_table_id.replace(":", ".")
        table.schema = [*table.schema, *(bq.SchemaField(c.name, _BIGQUERY_TYPES[c.type]) for c in missing)]
        client.update_table(table, ["schema"])
        for column in missing:
            kind = _BIGQUERY_TYPES[column.type]
            client.query(f"ALTER TABLE `{table_id}` ADD COLUMN IF NOT EXISTS {column.name} {kind}").result()
        get_dagster_logger().info(f"{table_id}: added the columns {', '.join(c.name for c in missing)}")

    def _merge(self, client: bq.Client, table_id: str, staging: str, trip_month: TripMonth) -> None:
        columns = ", ".join(c.name for c in REVENUE_COLUMNS)
        statement = (
            f"MERGE `{table_id}` AS t USING `{staging}` AS s ON FALSE "
            "WHEN NOT MATCHED BY SOURCE AND t.revenue_month = @month AND t.service_type = @color THEN DELETE "
            f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({columns})"
        )
        self._dml(client, table_id, statement, _slice_parameters(trip_month))

    def _dml(self, client: bq.Client, table_id: str, statement: str, parameters: list[bq.ScalarQueryParameter]) -> None:
        """Run a DML statement, again when a concurrent one on the same table won."""
        job_config = bq.QueryJobConfig(query_parameters=parameters)
        for attempt in range(1, self.merge_attempts + 1):
            try:
                client.query(statement, job_config=job_config).result()
                return
            except Exception as error:  # BigQuery serialises DML per table; a loser may retry
                if _CONCURRENT_UPDATE not in str(error).lower() or attempt == self.merge_attempts:
                    raise
                get_dagster_logger().info(f"{table_id} was being updated concurrently; trying again")
                time.sleep(attempt)

    def _count(self, client: bq.Client, table_id: str, trip_month: TripMonth) -> int:
        return int(next(iter(_query_slice(client, f"SELECT count(*) FROM `{table_id}`", trip_month)))[0])


def _query_slice(client: bq.Client, select: str, trip_month: TripMonth, tail: str = "") -> RowIterator:
    """`select ... WHERE` the (month, color) slice, with the slice as query parameters."""
    return _query(client, f"{select} WHERE {_SLICE} {tail}", trip_month)


def _query(client: bq.Client, statement: str, trip_month: TripMonth) -> RowIterator:
    """A query with the (month, color) slice as its parameters `@month` and `@color`."""
    job_config = bq.QueryJobConfig(query_parameters=_slice_parameters(trip_month))
    return client.query(statement, job_config=job_config).result()


def _slice_parameters(trip_month: TripMonth) -> list[bq.ScalarQueryParameter]:
    return [
        bq.ScalarQueryParameter("month", "DATE", trip_month.month),
        bq.ScalarQueryParameter("color", "STRING", trip_month.color),
    ]
