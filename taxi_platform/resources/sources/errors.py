"""How getting a file from a source fails, and the one redaction of a URL before it is shown."""

from __future__ import annotations

import urllib.parse


class MonthNotPublished(RuntimeError):
    """The source has no file for this month (HTTP 404 or no such file)."""


class DownloadFailed(RuntimeError):
    """The source kept failing (5xx, time-outs, dropped connections) after every retry."""


class NotModified(Exception):
    """A conditional GET answered 304: the file is the one downloaded before."""


class Retryable(Exception):
    """A transient failure of one attempt (5xx, time-out, dropped connection, short read): try again."""


def redact(url: str) -> str:
    """Drop user:password@ and query strings (signed URLs) before a URL reaches logs or metadata."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def not_published(url: str, why: str) -> MonthNotPublished:
    return MonthNotPublished(
        f"{redact(url)}: this month is not published ({why}); check the month and color, or the source bases "
        "(TAXI_SOURCE_URL, TAXI_TLC_URL, TAXI_SOURCES, or the landing zone's TAXI_LANDING_DIR / TAXI_LANDING_URI)"
    )
