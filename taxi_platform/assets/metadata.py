"""Materialization metadata shared by the assets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dagster import MetadataValue, TableColumn, TableSchema

from taxi_platform.audits import ParquetFiles
from taxi_platform.resources.bucket import Published
from taxi_platform.resources.lake import Stored
from taxi_platform.resources.sources import Downloaded
from taxi_platform.tlc.validation import TripFileFacts


def column_schema(columns: Iterable[tuple[str, str]]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, kind) for name, kind in columns])


def download_metadata(fetched: Downloaded) -> dict[str, Any]:
    """Which source a file came from, its URL (no credentials), format, hash and how the download went."""
    return {
        "source": fetched.source,
        "source_url": MetadataValue.url(fetched.url),
        "format": fetched.format,
        "sha256": fetched.sha256,
        "download_attempts": fetched.attempts,
        "download_seconds": round(fetched.seconds, 3),
    }


def file_facts(facts: TripFileFacts) -> dict[str, Any]:
    """What a raw trip file holds, as raw_trips shows it whether it was downloaded or kept unchanged."""
    return {
        "uncompressed_bytes": facts.uncompressed_bytes,
        "dagster/row_count": facts.rows,
        "dagster/column_schema": column_schema(facts.column_types),
        "unknown_columns": ", ".join(facts.unknown_columns) or "none",
    }


def bucket_location(published: Published) -> dict[str, Any]:
    """URI, file count and bytes of a prefix in the bucket (local folder or GCS)."""
    return {"uri": MetadataValue.url(published.uri), "files": published.files, "bytes": published.bytes}


def stored(where: Stored) -> dict[str, Any]:
    """Path (on a local lake), URI, file count and bytes of a lake file or partition."""
    path = {} if where.path is None else {"path": MetadataValue.path(where.path)}
    return {**path, "uri": MetadataValue.url(where.uri), "files": where.files, "bytes": where.bytes}


def location(uri: str) -> MetadataValue:
    """A lake file or folder as the UI shows it: a link for a `gs://` URI, a path on the lake's disk."""
    return MetadataValue.url(uri) if "://" in uri else MetadataValue.path(uri)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> MetadataValue:
    if not rows:
        return MetadataValue.md("_no rows_")
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in rows:
        cells = (f"{value:.2f}" if isinstance(value, float) else str(value) for value in row.values())
        lines.append("| " + " | ".join(cells) + " |")
    return MetadataValue.md("\n".join(lines))


def parquet_summary(files: ParquetFiles, where: str) -> tuple[int, list[tuple[str, str]]]:
    """(rows, [(column, type)]) from the parquet footers alone: no data is read, no JVM started."""
    if not files:
        raise FileNotFoundError(f"{where}: no parquet files")
    return files.rows(), [(field.name, str(field.type)) for field in files.schema()]
