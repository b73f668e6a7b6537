"""How a stage fails: the first line a person reads names the partition, the file and the problem.

Dagster shows a step's error message at the top of the run's page; a Java stack or a bare
`FileNotFoundError` there says nothing about which month broke. Every asset runs its work inside
`named_failures`, which turns any error into one `Failure` whose description starts with the
partition and the file, keeping the original error chained below it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Failure

from taxi_platform.tlc.months import TripMonth


def require_upstream(ready: bool, what: str, upstream: str, month: TripMonth, partitioned: bool = True) -> None:
    """Fail with a message that says which upstream partition (or unpartitioned asset) to materialize first."""
    if not ready:
        target = f"{upstream} for {month.label}" if partitioned else upstream
        raise Failure(f"{month.label}: {what} is missing: materialize {target} first")


@contextmanager
def named_failures(subject: TripMonth | str, source: str) -> Iterator[None]:
    """Re-raise any error of the block as a `Failure` opening with `{partition}: {file}: {problem}`.

    `subject` is the partition, or the name of an asset that has none (`taxi_zones`).
    """
    label = subject if isinstance(subject, str) else subject.label
    try:
        yield
    except Failure:
        raise  # written by this package: it already names what it must
    except Exception as error:
        problem = first_line(error)
        if problem.startswith(label):  # the error names the partition itself
            raise Failure(description=problem) from error
        where = "" if source in problem else f"{source}: "  # most errors of this package name their file
        raise Failure(description=f"{label}: {where}{type(error).__name__}: {problem}") from error


def first_line(error: BaseException) -> str:
    """The line of an error that says what went wrong (for Py4J errors, the Java exception's own)."""
    java = getattr(error, "java_exception", None)
    text = str(java.toString()) if java is not None else str(error)
    lines = [line.strip().removeprefix(": ") for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("An error occurred while calling")]
    return lines[0] if lines else "(no message)"
