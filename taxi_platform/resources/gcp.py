"""dagster-gcp's GCS and BigQuery resources, plus an endpoint for emulators.

Neither client library reads an emulator setting we can rely on (BigQuery reads none), so with
`endpoint` set the clients talk to it with anonymous credentials; without it they use Google's
endpoints and Application Default Credentials, exactly as dagster-gcp does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster_gcp import BigQueryResource, GCSResource
from google.cloud import bigquery, storage
from pydantic import Field

from taxi_platform.resources.storage_client import storage_client


def _emulator_options(endpoint: str) -> dict:
    from google.auth.credentials import AnonymousCredentials

    return {"client_options": {"api_endpoint": endpoint}, "credentials": AnonymousCredentials()}


class GcsClient(GCSResource):
    endpoint: str | None = Field(default=None, description="GCS API root of an emulator; unset for Google Cloud.")

    def get_client(self) -> storage.Client:
        if self.endpoint is None:
            return super().get_client()
        return storage_client(self.project, self.endpoint)


class BigQueryClient(BigQueryResource):
    endpoint: str | None = Field(default=None, description="BigQuery API root of an emulator; unset for Google Cloud.")

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        if self.endpoint is None:
            with super().get_client() as client:
                yield client
            return
        client = bigquery.Client(project=self.project, location=self.location, **_emulator_options(self.endpoint))
        try:
            yield client
        finally:
            client.close()
