"""Where trip files come from: the `TripSource` resource, one transport per URL scheme, and how a fetch fails."""

from taxi_platform.resources.sources.errors import DownloadFailed, MonthNotPublished, redact
from taxi_platform.resources.sources.transport import SourceFile
from taxi_platform.resources.sources.trip_source import Downloaded, TripSource, check_base_url

__all__ = ["DownloadFailed", "Downloaded", "MonthNotPublished", "SourceFile", "TripSource", "check_base_url", "redact"]
