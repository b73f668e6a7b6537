"""Google Cloud clients: dagster-gcp's GCS and BigQuery resources plus an emulator endpoint.

Neither client library reads an emulator setting we can rely on (BigQuery reads none), so with an
`endpoint` the clients talk to it with anonymous credentials; without one they use Google's
endpoints and Application Default Credentials, exactly as dagster-gcp does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster_gcp import BigQueryResource, GCSResource
from google.cloud import bigquery, storage
from pydantic import Field


def client_options(endpoint: str | None) -> dict[str, Any]:
    """Keyword arguments for a google-cloud client: none for Google Cloud, anonymous for an emulator."""
    if endpoint is None:
        return {}
    from google.auth.credentials import AnonymousCredentials

    return {"client_options": {"api_endpoint": endpoint}, "credentials": AnonymousCredentials()}


def storage_client(project: str | None, endpoint: str | None = None) -> storage.Client:
    """Application Default Credentials on Google Cloud; anonymous credentials on an emulator `endpoint`."""
    return storage.Client(project=project, **client_options(endpoint))


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
        client = bigquery.Client(project=self.project, location=self.location, **client_options(self.endpoint))
        try:
            yield client
        finally:
            client.close()
