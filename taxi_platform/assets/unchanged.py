"""Reruns of a month that did not change: nothing downloaded again, nothing parsed again.

raw_trips keeps with its file (through the lake) a record of where it came from (source, URL, the
source's version and the GET's ETag / Last-Modified), its sha256 and bytes, and the file's facts from
`inspect_trip_file`: the one home of those facts, read by typed_trips and its checks instead of the
gzip. typed_trips keeps with its version the inputs it was made from (the raw sha256, its code
version, its config) and what its Spark stage observed; revenue_report keeps the same with its
report (the fingerprints of the published trips and zones, its code version). A rerun that finds
the same inputs runs no Spark job: it materializes the partition with the same data version and
`unchanged: True`, its metadata rebuilt from the record, and evaluates no check again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, TypeGuard

from dagster import (
    AssetCheckExecutionContext,
    AssetExecutionContext,
    AssetRecordsFilter,
    DataVersion,
    MaterializeResult,
    MetadataValue,
)

from taxi_platform.assets.metadata import file_facts, stored
from taxi_platform.partitions import partition_key
from taxi_platform.resources import Lake
from taxi_platform.resources.sources import Downloaded, DownloadFailed, SourceFile
from taxi_platform.spark.stages import StageResult
from taxi_platform.tlc import TripMonth, inspect_trip_file
from taxi_platform.tlc.validation import TripFileFacts


def raw_record(published: SourceFile, fetched: Downloaded, facts: TripFileFacts) -> dict[str, Any]:
    """What a raw file is and holds (no credentials: URLs are redacted by the source)."""
    return {
        "url": fetched.url,
        "source": fetched.source,
        "format": fetched.format,
        "version": published.version,
        "validators": dict(fetched.validators),
        "sha256": fetched.sha256,
        "bytes": fetched.bytes,
        "facts": {
            "header": facts.header,
            "rows": facts.rows,
            "uncompressed_bytes": facts.uncompressed_bytes,
            "color": facts.color,
            "format": facts.format,
            "types": facts.types,
        },
    }


def held_raw(lake: Lake, target: str, published: SourceFile) -> dict[str, Any] | None:
    """The record of the raw file held at `target`, when it was downloaded from the URL just located."""
    record = lake.record(target)
    if record is None or (record["source"], record["url"]) != (published.source, published.url):
        return None
    return record


def is_current(held: dict[str, Any] | None, published: SourceFile) -> TypeGuard[dict[str, Any]]:
    """True when the HEAD's version (ETag, Last-Modified, GCS generation) is the held copy's, and so is its size."""
    return (
        held is not None
        and not published.version_is_size
        and published.version == held["version"]
        and published.size in (None, held["bytes"])
    )


def conditions(held: dict[str, Any] | None, published: SourceFile) -> dict[str, str] | None:
    """What a GET asks "changed since?" with, when the HEAD gave only a size to compare."""
    if held is None or not published.version_is_size or published.size not in (None, held["bytes"]):
        return None
    return held["validators"] or None


def unchanged_raw(
    context: AssetExecutionContext, lake: Lake, target: str, held: dict[str, Any], source_checked: bool = True
) -> MaterializeResult:
    """The materialization of a raw file held, still the one published (or with no source to ask): no download."""
    facts = TripFileFacts(**held["facts"])
    if source_checked:
        context.log.info(
            f"{target}: unchanged at {held['url']} (version {held['version']}), not downloaded again; "
            f"{facts.rows} rows as recorded"
        )
    return MaterializeResult(
        metadata={
            **stored(lake.describe(target)),
            "source": held["source"],
            "source_url": MetadataValue.url(held["url"]),
            "format": held["format"],
            "sha256": held["sha256"],
            "unchanged": True,
            "source_checked": source_checked,
            "source_version": held["version"],
            **file_facts(facts),
        },
        data_version=DataVersion(held["sha256"]),
    )


def offline_raw(
    context: AssetExecutionContext, lake: Lake, month: TripMonth, unreachable: DownloadFailed
) -> MaterializeResult:
    """No source answered: the checked copy the lake holds serves, said in the log and the metadata.

    A month never downloaded has no copy, and fails saying so.
    """
    held = held_raw_file(lake, month)
    if held is None:
        raise DownloadFailed(f"{unreachable}; the lake holds no copy of {month.label}: it was never downloaded")
    target, record = held
    context.log.warning(
        f"{month.label}: no source could be reached ({unreachable}); using the copy held at "
        f"{lake.uri(target)}, downloaded from {record['url']}, without asking whether it changed"
    )
    return unchanged_raw(context, lake, target, record, source_checked=False)


def held_raw_file(lake: Lake, month: TripMonth) -> tuple[str, dict[str, Any]] | None:
    """Where the month's raw file is held, in whichever format, and its record; None when none is held."""
    return next(((relative, record) for relative in month.raw_paths if (record := lake.record(relative))), None)


@dataclass(frozen=True)
class RawFile:
    """The month's raw file in the lake and raw_trips' record of it (None: a file copied in by hand)."""

    path: str
    record: dict[str, Any] | None

    def rows(self, lake: Lake, month: TripMonth) -> int:
        """Its rows, from the record; a file without one is read."""
        if self.record is not None:
            return self.record["facts"]["rows"]
        return inspect_trip_file(lake.opener(self.path), month.color, name=lake.uri(self.path)).rows

    def typed_inputs(self, code_version: str, config: dict[str, Any]) -> dict[str, Any] | None:
        """What a typed partition made from it is made from; None without a record (its sha256 is unknown)."""
        if self.record is None:
            return None
        return {"raw_sha256": self.record["sha256"], "code_version": code_version, "config": config}


def raw_file(lake: Lake, month: TripMonth) -> RawFile | None:
    """The month's raw file, in whichever format it is held, with its record; None when there is none."""
    path = lake.first_file(month.raw_paths)
    return None if path is None else RawFile(path, lake.record(path))


def derived_version(inputs: dict[str, Any] | None) -> DataVersion | None:
    """A data version from the input's data version, the code version and the config."""
    if inputs is None:
        return None
    return DataVersion(hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest())


def stage_record(inputs: dict[str, Any] | None, result: StageResult, run_id: str, **more: Any) -> dict[str, Any]:
    """What a written partition was made from and what its stage observed (plain JSON, no Dagster events)."""
    return {"inputs": inputs, "result": json.loads(result.to_json()), "run_id": run_id, **more}


def kept_record(
    context: AssetExecutionContext, target: str, record: dict[str, Any] | None, inputs: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The record of the partition at `target` when it was made from `inputs` (nothing to redo); else None.

    Its stage result gives the materialization's metadata again. Its check results are not given
    again: the evaluations recorded when it was written, with their times, are the ones about it.
    """
    if inputs is None or record is None or record.get("inputs") != inputs or "result" not in record:
        return None
    context.log.info(f"{target}: made from the same inputs by run {record['run_id']}: kept, nothing redone")
    return record


def written_in_run(record: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    """The record of a partition this run wrote (what its stage observed, its audits); empty for another run's."""
    return record if record is not None and record.get("run_id") == run_id else {}


def kept_by_this_run(context: AssetCheckExecutionContext, month: TripMonth) -> bool:
    """Whether this run's step of the checked asset kept the month as an earlier run made it (`kept_metadata`).

    Its checks then emit no evaluation: the UI keeps showing those of the version kept, and nothing
    is read again. A check run on its own (the asset not materialized in the run) audits the partition now.
    """
    asset = context.check_specs[0].asset_key
    latest = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset, asset_partitions=[str(partition_key(month))]), limit=1
    ).records
    if not latest or latest[0].run_id != context.run.run_id or latest[0].asset_materialization is None:
        return False
    unchanged = latest[0].asset_materialization.metadata.get("unchanged")
    return unchanged is not None and unchanged.value is True


def kept_metadata(record: dict[str, Any]) -> dict[str, Any]:
    """What a materialization of a kept partition adds: that it is unchanged, and which run made it."""
    return {"unchanged": True, "made_by_run": record["run_id"]}
