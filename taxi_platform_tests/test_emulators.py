"""Real client libraries against the emulators: google-cloud-storage, Spark's GCS connector, google-cloud-bigquery."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery

from taxi_platform.spark.gcs import gcs_connector_jar, gcs_connector_settings
from taxi_platform.tlc.schemas import REVENUE_COLUMNS
from taxi_platform_tests.support.data import REPO
from taxi_platform_tests.support.emulators import GcsEmulator, unique_name

PROJECT = "taxi-platform-test"


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# --- GCS -----------------------------------------------------------------------------------------


def test_storage_client_parallel_upload_listing_md5_delete(gcs_emulator, tmp_path: Path):
    from google.cloud.storage import transfer_manager

    client = gcs_emulator.client()
    bucket = client.create_bucket(unique_name("lake"))
    files = {}
    for i in range(12):
        name = f"part-{i:05d}.parquet"
        files[name] = os.urandom(50_000 + i)
        (tmp_path / name).write_bytes(files[name])

    results = transfer_manager.upload_many_from_filenames(
        bucket, sorted(files), source_directory=str(tmp_path), blob_name_prefix="pq/green/2021/01/",
        max_workers=6, worker_type=transfer_manager.THREAD, raise_exception=True,
    )  # fmt: skip
    assert results == [None] * len(files)
    bucket.blob("pq/yellow/2021/01/part-00000.parquet").upload_from_string(b"other color")

    blobs = list(client.list_blobs(bucket, prefix="pq/green/2021/01/"))
    assert sorted(blob.name.rsplit("/", 1)[1] for blob in blobs) == sorted(files)
    for blob in blobs:
        data = files[blob.name.rsplit("/", 1)[1]]
        assert blob.md5_hash == md5_base64(data)
        assert blob.size == len(data)
    assert blobs[0].download_as_bytes() == files[blobs[0].name.rsplit("/", 1)[1]]

    colors = client.list_blobs(bucket, prefix="pq/", delimiter="/")
    assert list(colors) == []
    assert colors.prefixes == {"pq/green/", "pq/yellow/"}

    bucket.delete_blobs(blobs)
    assert [blob.name for blob in client.list_blobs(bucket)] == ["pq/yellow/2021/01/part-00000.parquet"]


def test_gcs_errors_have_json_bodies(gcs_emulator):
    # The Hadoop connector parses the body of a 404; the unpatched emulator sends an empty one.
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{gcs_emulator.endpoint}/storage/v1/b/no-such-bucket/o/x", timeout=5)
    assert err.value.code == 404
    assert json.loads(err.value.read())["error"]["code"] == 404


def test_gcs_reset_wipes_buckets_and_mirror(tmp_path: Path):
    with GcsEmulator(mirror_dir=tmp_path / "mirror") as gcs:
        client = gcs.client()
        bucket = client.bucket(gcs.create_bucket("wiped"))
        bucket.blob("a/b.txt").upload_from_string(b"x")
        assert (tmp_path / "mirror" / "wiped" / "a" / "b.txt").read_bytes() == b"x"
        gcs.reset()
        assert list(client.list_buckets()) == []
        assert list((tmp_path / "mirror").iterdir()) == []


# --- Spark gs:// ---------------------------------------------------------------------------------

# Runs in a fresh python process: `spark.jars` only reaches a new JVM, and other tests of this pytest
# process start the process's SparkSession first, without the connector.
SPARK_ROUNDTRIP = textwrap.dedent(
    """
    import datetime, json, sys
    from pyspark.sql import SparkSession
    from taxi_platform.spark.gcs import gcs_connector_settings
    from taxi_platform.spark.settings import SESSION_SETTINGS

    endpoint, project, url = sys.argv[1:4]
    settings = {**SESSION_SETTINGS, "spark.ui.enabled": "false", **gcs_connector_settings(endpoint, project)}
    builder = SparkSession.builder.master("local[2]").appName("gcs-roundtrip")
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    rows = [(i % 7, datetime.date(2021, 1, 1), "green", i * 1.25) for i in range(500)]
    df = spark.createDataFrame(rows, "revenue_zone int, revenue_month date, service_type string, amount double")
    df.repartition(3).write.mode("overwrite").parquet(url)
    back = spark.read.parquet(url)
    same = back.schema == df.schema and sorted(back.collect()) == sorted(df.collect())
    print(json.dumps({"same": same, "rows": back.count()}))
    spark.stop()
    """
)


def test_spark_writes_and_reads_parquet_on_gs(gcs_emulator, tmp_path: Path):
    bucket = gcs_emulator.create_bucket(unique_name("lake"))
    env = dict(
        os.environ,
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    run = subprocess.run(
        [sys.executable, "-c", SPARK_ROUNDTRIP, gcs_emulator.endpoint, PROJECT, f"gs://{bucket}/x/"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-4000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"same": True, "rows": 500}

    names = [blob.name for blob in gcs_emulator.client().list_blobs(bucket, prefix="x/")]
    assert "x/_SUCCESS" in names
    assert len([name for name in names if name.endswith(".parquet")]) == 3
    assert not [name for name in names if "_temporary" in name]


def test_gcs_connector_settings():
    assert Path(gcs_connector_jar()).is_file()
    real = gcs_connector_settings(None, "my-project")
    assert real["spark.jars"] == gcs_connector_jar()
    assert real["spark.hadoop.fs.gs.project.id"] == "my-project"
    assert not any("auth" in key or "root.url" in key for key in real)
    emulated = gcs_connector_settings("http://127.0.0.1:1234/", "p")
    assert emulated["spark.hadoop.fs.gs.storage.root.url"] == "http://127.0.0.1:1234"
    assert emulated["spark.hadoop.fs.gs.auth.null.enable"] == "true"
    assert emulated["spark.hadoop.fs.gs.auth.service.account.enable"] == "false"


# --- BigQuery ------------------------------------------------------------------------------------

_BQ_TYPES = {"int": "INT64", "double": "FLOAT64", "date": "DATE", "string": "STRING", "timestamp": "TIMESTAMP"}
_ARROW_TYPES = {"int": pa.int32(), "double": pa.float64(), "date": pa.date32(), "string": pa.string()}
COLUMNS = [column.name for column in REVENUE_COLUMNS]


@pytest.fixture
def bq_dataset(bigquery_emulator) -> tuple[bigquery.Client, str]:
    """A BigQuery client of the emulator and a new dataset of this test's own."""
    client = bigquery_emulator.client()
    dataset = unique_name("taxi", "_")
    client.create_dataset(dataset)
    return client, dataset


def revenue_schema():
    return [bigquery.SchemaField(column.name, _BQ_TYPES[column.type]) for column in REVENUE_COLUMNS]


def revenue_parquet(path: Path, month: datetime.date, color: str, zones: list[int], scale: float = 1.0) -> Path:
    """A report file as Spark writes it: int32 zone, date32 month, doubles; columns in the table's order."""
    special = {
        "revenue_zone": zones,
        "revenue_month": [month] * len(zones),
        "service_type": [color] * len(zones),
        "avg_monthly_passenger_count": [None if zone % 2 else zone * scale for zone in zones],
    }

    def default(column) -> list:
        if column.type == "string":  # the pickup zone's names
            return [f"{column.name} of {zone}" for zone in zones]
        return [zone * scale + 0.5 for zone in zones]

    arrays = {
        column.name: pa.array(special.get(column.name, default(column)), _ARROW_TYPES[column.type])
        for column in REVENUE_COLUMNS
    }
    pq.write_table(pa.table(arrays), path)
    return path


def create_revenue_table(client, dataset: str):
    table = bigquery.Table(f"{client.project}.{dataset}.revenue", schema=revenue_schema())
    table.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field="revenue_month"
    )
    table.clustering_fields = ["service_type"]
    return client.create_table(table)


def replacing_parquet_load() -> bigquery.LoadJobConfig:
    """A load of report parquet that replaces the table it loads into."""
    # The emulator reads parquet columns by position and needs the schema given explicitly.
    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, schema=revenue_schema(),
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
    )  # fmt: skip


def stage(client, dataset: str, path: Path, table: str = "staging"):
    """Load one report file into the staging table (replacing it)."""
    with path.open("rb") as source:
        return client.load_table_from_file(source, f"{dataset}.{table}", job_config=replacing_parquet_load()).result()


REPLACE_SLICE = """
MERGE `{dataset}.revenue` T
USING (SELECT {columns} FROM `{dataset}.{staging}`) S
ON FALSE
WHEN NOT MATCHED BY SOURCE AND T.revenue_month = @month AND T.service_type = @color THEN DELETE
WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({columns})
"""


def replace_slice(client, dataset: str, staging: str, month: datetime.date, color: str) -> int:
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("month", "DATE", month),
            bigquery.ScalarQueryParameter("color", "STRING", color),
        ]
    )
    sql = REPLACE_SLICE.format(dataset=dataset, staging=staging, columns=", ".join(COLUMNS))
    job = client.query(sql, job_config=config)
    job.result()
    return job.num_dml_affected_rows


def rows_of(client, dataset: str) -> list[tuple]:
    sql = f"SELECT {', '.join(COLUMNS)} FROM `{dataset}.revenue` ORDER BY revenue_month, service_type, revenue_zone"
    return [tuple(row.values()) for row in client.query(sql).result()]


def test_bigquery_partitioned_table_load_and_merge_replace(bq_dataset, tmp_path: Path):
    client, dataset = bq_dataset
    table = client.get_table(create_revenue_table(client, dataset))
    assert table.time_partitioning.type_ == "MONTH"
    assert table.time_partitioning.field == "revenue_month"
    assert table.clustering_fields == ["service_type"]
    # Real BigQuery answers the legacy names (INTEGER, FLOAT); the emulator echoes INT64, FLOAT64.
    legacy = {"INTEGER": "INT64", "FLOAT": "FLOAT64"}
    assert [legacy.get(field.field_type, field.field_type) for field in table.schema] == [
        _BQ_TYPES[column.type] for column in REVENUE_COLUMNS
    ]

    jan, feb = datetime.date(2021, 1, 1), datetime.date(2021, 2, 1)
    slices = [(jan, "green", [1, 2, 3]), (jan, "yellow", [1, 4]), (feb, "green", [5])]
    for month, color, zones in slices:
        stage(client, dataset, revenue_parquet(tmp_path / f"{month}-{color}.parquet", month, color, zones))
        assert replace_slice(client, dataset, "staging", month, color) == len(zones)
    before = rows_of(client, dataset)
    assert len(before) == 6
    assert before[0][:3] == (1, jan, "green")  # DATE comes back as datetime.date, INT64 as int
    assert before[0][COLUMNS.index("avg_monthly_passenger_count")] is None

    # Rerun of jan/green with new numbers: the slice is replaced, the others untouched.
    stage(client, dataset, revenue_parquet(tmp_path / "rerun.parquet", jan, "green", [1, 2], scale=10.0))
    assert replace_slice(client, dataset, "staging", jan, "green") == 3 + 2  # deleted + inserted
    after = rows_of(client, dataset)
    assert [row for row in after if row[1:3] != (jan, "green")] == [row for row in before if row[1:3] != (jan, "green")]
    assert [row[0] for row in after if row[1:3] == (jan, "green")] == [1, 2]
    assert after[0][COLUMNS.index("revenue_monthly_total_amount")] == 10.5

    # Same input again: same rows, no duplicates.
    assert replace_slice(client, dataset, "staging", jan, "green") == 2 + 2
    assert rows_of(client, dataset) == after


def test_bigquery_failed_merge_leaves_the_slice(bq_dataset, tmp_path: Path):
    client, dataset = bq_dataset
    create_revenue_table(client, dataset)
    jan = datetime.date(2021, 1, 1)
    stage(client, dataset, revenue_parquet(tmp_path / "jan.parquet", jan, "green", [1, 2]))
    replace_slice(client, dataset, "staging", jan, "green")
    before = rows_of(client, dataset)

    columns = ", ".join(COLUMNS)
    broken = columns.replace("revenue_monthly_fare", "CAST('x' AS FLOAT64) AS revenue_monthly_fare", 1)
    client.query(f"CREATE OR REPLACE VIEW `{dataset}.broken` AS SELECT {broken} FROM `{dataset}.staging`").result()
    with pytest.raises(Exception, match="convert"):
        replace_slice(client, dataset, "broken", jan, "green")
    assert rows_of(client, dataset) == before


def test_bigquery_load_from_gs_uri_reads_the_gcs_emulator(bq_dataset, gcs_emulator, tmp_path: Path):
    client, dataset = bq_dataset
    bucket = gcs_emulator.client().bucket(gcs_emulator.create_bucket(unique_name("lake")))
    jan = datetime.date(2021, 1, 1)
    for i, zones in enumerate(([1, 2], [3])):
        path = revenue_parquet(tmp_path / f"part-{i}.parquet", jan, "green", zones)
        bucket.blob(f"report/revenue/green/2021/01/part-{i:05d}.snappy.parquet").upload_from_filename(path)
    bucket.blob("report/revenue/green/2021/01/_SUCCESS").upload_from_string(b"")

    uri = f"gs://{bucket.name}/report/revenue/green/2021/01/*.parquet"
    job = client.load_table_from_uri(uri, f"{dataset}.staging", job_config=replacing_parquet_load())
    assert job.result().output_rows == 3
    create_revenue_table(client, dataset)
    assert replace_slice(client, dataset, "staging", jan, "green") == 3
    assert [row[0] for row in rows_of(client, dataset)] == [1, 2, 3]


def test_bigquery_transaction_replace(bq_dataset, tmp_path: Path):
    """The multi-statement alternative: works with literals (query parameters do not reach a script)."""
    client, dataset = bq_dataset
    create_revenue_table(client, dataset)
    stage(client, dataset, revenue_parquet(tmp_path / "jan.parquet", datetime.date(2021, 1, 1), "green", [1, 2]))
    columns = ", ".join(COLUMNS)
    script = f"""
    BEGIN TRANSACTION;
    DELETE FROM `{dataset}.revenue` WHERE revenue_month = DATE '2021-01-01' AND service_type = 'green';
    INSERT INTO `{dataset}.revenue` ({columns}) SELECT {columns} FROM `{dataset}.staging`;
    COMMIT TRANSACTION;
    """
    client.query(script).result()
    client.query(script).result()
    assert [row[0] for row in rows_of(client, dataset)] == [1, 2]
