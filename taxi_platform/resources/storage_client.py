"""One way to build a google-cloud-storage client, light to import (the library loads on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud import storage


def storage_client(project: str | None, endpoint: str | None = None) -> storage.Client:
    """Application Default Credentials on Google Cloud; anonymous credentials on an emulator `endpoint`."""
    from google.cloud import storage

    if endpoint is None:
        return storage.Client(project=project)
    from google.auth.credentials import AnonymousCredentials

    return storage.Client(
        project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )
