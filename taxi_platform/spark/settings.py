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
# A short run's JVM spends most of its CPU compiling Spark's own code (class loading, planning, task
# serialization) with C2: for seven small months, 1,700 methods and 15 s of CPU beside a 13 s stage, and two
# runs at once on two cores wait for each other's compilers. C1 alone (`quick`) starts that work sooner and
# cheaper, but runs a long stage's hot loops about half as fast: a choice for small work only.
QUICK_JIT = "-XX:TieredStopAtLevel=1"
_JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")


def java_options(settings: dict[str, str], quick: bool = False) -> dict[str, str]:
    """The driver's and executors' JVM options of `settings` with `COMPILE_HUGE_METHODS` added, and `QUICK_JIT`
    when `quick` (unless the options already choose a compiler tier).

    They are read when a JVM starts: give them to the session builder or to spark-submit (a job's
    properties), not to a running session.
    """
    options = {}
    for key in _JAVA_OPTIONS:
        given = settings.get(key, "").split()
        wanted = [COMPILE_HUGE_METHODS]
        if quick and not any(option.startswith("-XX:TieredStopAtLevel") for option in given):
            wanted.append(QUICK_JIT)
        options[key] = " ".join(given + [option for option in wanted if option not in given])
    return options


def is_quick(settings: dict[str, str]) -> bool:
    """Whether a JVM started with `settings` compiles with C1 only."""
    return QUICK_JIT in settings.get(_JAVA_OPTIONS[0], "").split()
