"""Google Cloud implementations of the resource ports: GCS bucket and landing zone, BigQuery warehouse,
the `gs://` trip source transport, and Dataproc.

Imported by the gcp profile only (and by a `gs://` trip source base), never by the local one: the
client libraries are slow to import and need credentials. This `__init__` imports nothing.
"""
