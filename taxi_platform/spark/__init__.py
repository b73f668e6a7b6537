"""Spark transforms: `DataFrame -> DataFrame` functions plus thin read/write edges.

Nothing here imports Dagster, so the same code runs in-process and under spark-submit/Dataproc
(see `taxi_platform.spark.job`).
"""
