"""Session settings every Spark run of the platform needs, wherever it runs."""

SESSION_SETTINGS: dict[str, str] = {
    # TLC timestamps are naive local times; UTC keeps them unshifted end to end.
    "spark.sql.session.timeZone": "UTC",
    # Spark 3.5 writes INT96 by default, which BigQuery and DuckDB read badly.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # One month is small: 200 shuffle partitions would be 200 tiny tasks.
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.showConsoleProgress": "false",
}
