"""The one reader of `gs://bucket/prefix` URIs (pure Python: no client library)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GsUri:
    """`gs://bucket/some/prefix/` -> bucket `bucket`, path `some/prefix` (no leading or trailing `/`)."""

    bucket: str
    path: str = ""

    @classmethod
    def parse(cls, uri: str) -> GsUri:
        """ValueError naming the URI for anything that is not `gs://bucket[/path]`."""
        if not uri.startswith("gs://"):
            raise ValueError(f"{uri!r} is not a gs://bucket/prefix URI")
        bucket, _, path = uri[len("gs://") :].partition("/")
        if not bucket:
            raise ValueError(f"{uri!r} names no bucket")
        return cls(bucket, path.strip("/"))

    def join(self, *parts: str) -> GsUri:
        return GsUri(self.bucket, "/".join(p.strip("/") for p in (self.path, *parts) if p.strip("/")))

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.path}" if self.path else f"gs://{self.bucket}"


def is_gs_uri(uri: str) -> bool:
    return uri.startswith("gs://")
