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

# HotSpot never compiles a method of more than 8000 bytes of bytecode (`-XX:+DontCompileHugeMethods`, its
# default) and interprets it instead. The typed stage's projection over a line's fields, with a check per
# field, compiles to such a method: interpreted, that stage ran three to four times slower.
COMPILE_HUGE_METHODS = "-XX:-DontCompileHugeMethods"
_JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")


def java_options(settings: dict[str, str]) -> dict[str, str]:
    """The driver's and executors' JVM options of `settings` with `COMPILE_HUGE_METHODS` added.

    They are read when a JVM starts: give them to the session builder or to spark-submit (a job's
    properties), not to a running session.
    """
    options = {}
    for key in _JAVA_OPTIONS:
        given = settings.get(key, "")
        options[key] = given if COMPILE_HUGE_METHODS in given.split() else f"{given} {COMPILE_HUGE_METHODS}".strip()
    return options
