"""Spark settings for `gs://` paths: the Hadoop GCS connector jar shipped by the `pyspark-gcs` wheel.

`spark.jars` only takes effect in a new JVM: pass these settings to a session's builder (or to
`spark-submit --conf`) before the process's first SparkSession starts.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

GCS_CONNECTOR_JAR_NAME = "gcs-connector-hadoop3-2.2.6-shaded.jar"


def gcs_connector_jar() -> str:
    """Absolute path of the GCS connector jar inside the installed `pyspark_gcs` package."""
    spec = find_spec("pyspark_gcs")  # no import: the package imports pyspark
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pyspark-gcs is not installed (it ships the GCS connector jar); run scripts/setup")
    for location in spec.submodule_search_locations:
        jar = Path(location) / "jars" / GCS_CONNECTOR_JAR_NAME
        if jar.is_file():
            return str(jar)
    raise RuntimeError(f"{GCS_CONNECTOR_JAR_NAME} not found in the installed pyspark-gcs package")


def gcs_connector_settings(storage_root_url: str | None = None, project: str | None = None) -> dict[str, str]:
    """Spark settings that make `gs://` paths work.

    `storage_root_url` points the connector at a GCS emulator (e.g. `http://127.0.0.1:4443`) and
    turns authentication off; leave it None on real GCS, where the connector uses the machine's
    application-default credentials (a Dataproc cluster's service account).
    """
    settings = {
        "spark.jars": gcs_connector_jar(),
        "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
    }
    if project:
        settings["spark.hadoop.fs.gs.project.id"] = project
    if storage_root_url:
        settings["spark.hadoop.fs.gs.storage.root.url"] = storage_root_url.rstrip("/")
        # Both: with service-account auth on (the default) the connector asks the GCE metadata server
        # for a token before it looks at null credentials.
        settings["spark.hadoop.fs.gs.auth.service.account.enable"] = "false"
        settings["spark.hadoop.fs.gs.auth.null.enable"] = "true"
    return settings
