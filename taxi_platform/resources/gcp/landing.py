"""A landing zone under a `gs://bucket/prefix` (gcp profile only: the client libraries are slow to import).

The zone holds `{prefix}/{color}/{color}_tripdata_{YYYY}-{MM}.csv.gz` or `.parquet`. Each tick lists the prefix once
(paginated, names, generations and sizes only, nothing downloaded); a file's version is its object
generation, which GCS raises every time the object is written again, so the landing sensor's
high-water mark works as it does for a local folder's ctimes. A run then downloads the landed object
with `TripSource(file_url="gs://bucket/prefix/...")`.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.api_core.exceptions import NotFound
from pydantic import Field

from taxi_platform.resources.gcp.clients import GcsClient
from taxi_platform.resources.gcp.uri import GsUri
from taxi_platform.resources.landing import LandedFile, LandingZone, LandingZoneMissing

_LISTED_FIELDS = "items(name,generation,size),nextPageToken"


class GcsLandingZone(LandingZone):
    """Objects under a `gs://bucket/prefix` (TAXI_LANDING_URI on the gcp profile).

    Upload each file in one request (gsutil/gcloud do, or write under a `.`-prefixed name and copy
    it into place): an object is only listed once it is complete. Folder markers (names ending in
    `/`) and names with a part starting with `.` are not listed.
    """

    gcs: GcsClient
    uri: str = Field(description="gs://bucket/prefix new monthly files are uploaded under (TAXI_LANDING_URI).")

    @property
    def source_url(self) -> str:
        return str(GsUri.parse(self.uri))

    def trip_source_config(self, relative: str) -> dict[str, str]:
        config = super().trip_source_config(relative)
        if self.gcs.endpoint:
            config["gcs_endpoint"] = self.gcs.endpoint
        return config

    def list_files(self) -> Iterator[LandedFile]:
        try:
            zone = GsUri.parse(self.uri)
        except ValueError as error:
            raise LandingZoneMissing(f"{error} (TAXI_LANDING_URI)") from None
        bucket = zone.bucket
        listed_prefix = f"{zone.path}/" if zone.path else ""
        blobs = self.gcs.get_client().list_blobs(bucket, prefix=listed_prefix, fields=_LISTED_FIELDS)
        try:
            for blob in blobs:  # pages are fetched as the iteration reaches them
                relative = blob.name[len(listed_prefix) :]
                if not relative or relative.endswith("/"):
                    continue  # the prefix's or a folder's marker
                if any(not part or part.startswith(".") for part in relative.split("/")):
                    continue  # an upload in progress by convention, or a name no release file has
                yield LandedFile(
                    relative=relative,
                    version=int(blob.generation),
                    size=int(blob.size or 0),
                    uri=str(GsUri(bucket, blob.name)),
                )
        except NotFound:
            raise LandingZoneMissing(
                f"{GsUri(bucket)}: the landing bucket does not exist (TAXI_LANDING_URI={self.uri})"
            ) from None
