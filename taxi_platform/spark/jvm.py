"""What only the JVM knows: Hadoop's FileSystem and parquet reader as Spark sees them, and the executors.

PySpark offers no public door to these: its py4j gateway (`SparkContext._jvm`, `_jsc`) is the only
one, used here and nowhere else, so that a file is listed, sized and read with the session's own
Hadoop settings (the GCS connector's endpoint and project among them), and an application can tell
whether any executor has joined it.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def _gateway(spark: SparkSession) -> tuple[Any, Any]:
    """The JVM view and the session's Hadoop configuration."""
    context = spark.sparkContext
    return context._jvm, context._jsc.hadoopConfiguration()


def file_size(spark: SparkSession, path: str) -> int:
    """The length of one file, in bytes."""
    jvm, conf = _gateway(spark)
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return int(hadoop_path.getFileSystem(conf).getFileStatus(hadoop_path).getLen())


def glob(spark: SparkSession, pattern: str) -> list[str]:
    """What Hadoop's glob matches (hidden names included), as full paths."""
    jvm, conf = _gateway(spark)
    hadoop_path = jvm.org.apache.hadoop.fs.Path(pattern)
    return [status.getPath().toString() for status in hadoop_path.getFileSystem(conf).globStatus(hadoop_path) or []]


def parquet_columns(spark: SparkSession, path: str) -> list[tuple[str, str]]:
    """(name, physical and logical type) of a parquet file's top-level columns, from its footer."""
    jvm, conf = _gateway(spark)
    source = jvm.org.apache.parquet.hadoop.util.HadoopInputFile.fromPath(jvm.org.apache.hadoop.fs.Path(path), conf)
    reader = jvm.org.apache.parquet.hadoop.ParquetFileReader.open(source)
    try:
        schema = reader.getFooter().getFileMetaData().getSchema()
    finally:
        reader.close()
    return [(str(field.getName()), str(field.toString())) for field in schema.getFields()]


def executor_count(spark: SparkSession) -> int:
    """Executors registered with the driver (its own entry in the block managers' list not counted)."""
    return int(spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()) - 1
