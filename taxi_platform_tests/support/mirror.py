"""A loopback mirror of both sources, the course's release and the TLC feed, built from local TLC files.

    python -m taxi_platform_tests.support.mirror taxi_platform_tests/data --port 8765
    TAXI_SOURCE_URL=http://127.0.0.1:8765 TAXI_TLC_URL=http://127.0.0.1:8765 dagster asset materialize ...

One folder serves both layouts. CSVs (`green_tripdata_2021_01.csv.gz`, `yellow_tripdata_2021-01.csv`)
are published under the release's names (`green/green_tripdata_2021-01.csv.gz`); plain CSVs are
gzipped without a cut-off last line. Parquet files are published as the feed's
(`trip-data/green_tripdata_2024-01.parquet`), the zone lookup as `misc/taxi_zone_lookup.csv`. Tests
script failures per method and path with `MirrorServer.script`.

Files are served with Last-Modified (and If-Modified-Since answered 304, as `http.server` does); with
`etags=True` also with an ETag of the file's size and mtime, and If-None-Match answered 304. With
`bare_head=True` a HEAD gives neither, as some servers do, so only a conditional GET tells.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import http.server
import re
import shutil
import tempfile
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

from taxi_platform.tlc.sources import ZONES_FILE

_NAME = re.compile(r"^(green|yellow)_tripdata_(\d{4})[-_](\d{2})\.(csv|csv\.gz|parquet)$")
_ZONES = re.compile(r"^taxi\+?_zone_lookup\.csv$")


def whole_lines(path: Path) -> bytes:
    """The file's bytes without a last line that has fewer fields than the header."""
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    header_fields = lines[0].count(b",")
    if lines[-1].count(b",") != header_fields or not lines[-1].endswith(b"\n"):
        lines = lines[:-1]
    return b"".join(lines)


def build_mirror(source: Path, target: Path) -> list[str]:
    """Lay out `target` like the release and the feed; returns the relative paths published."""
    published = []
    for path in sorted(source.iterdir()):
        match = _NAME.match(path.name)
        if _ZONES.match(path.name):
            relative = ZONES_FILE
        elif not match:
            continue
        elif match[4] == "parquet":
            relative = f"trip-data/{match[1]}_tripdata_{match[2]}-{match[3]}.parquet"
        else:
            relative = f"{match[1]}/{match[1]}_tripdata_{match[2]}-{match[3]}.csv.gz"
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if match and match[4] == "csv":
            destination.write_bytes(gzip.compress(whole_lines(path), mtime=0))
        else:
            shutil.copyfile(path, destination)
        published.append(relative)
    return published


@dataclass
class Scripted:
    status: int
    body: bytes = b""
    content_type: str = "application/octet-stream"
    content_length: int | None = None  # claim more than is sent to simulate a dropped connection
    delay: float = 0.0  # seconds to wait before answering (a slow or hung server)
    headers: dict[str, str] = field(default_factory=dict)  # e.g. a redirect's Location
    drop: bool = False  # close the connection without answering


class MirrorServer:
    """ThreadingHTTPServer on 127.0.0.1 over a mirror folder, with scripted answers per method and path."""

    def __init__(self, root: Path, etags: bool = False, bare_head: bool = False) -> None:
        self.root = root
        self.requests: list[str] = []  # paths of GET requests
        self.head_requests: list[str] = []
        self.bodies: list[str] = []  # paths of GET requests answered with a file's body (not a 304)
        self.not_modified: list[str] = []  # paths of GET requests answered 304
        self._script: dict[tuple[str, str], deque[Scripted]] = defaultdict(deque)
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(root), **kwargs)

            def _scripted(self) -> bool:
                """Answer from the script when it has an answer left for this method and path."""
                queue = server._script.get((self.command, self.path))
                if not queue:
                    return False
                answer = queue.popleft()
                time.sleep(answer.delay)
                if answer.drop:
                    self.close_connection = True
                    return True
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                length = answer.content_length if answer.content_length is not None else len(answer.body)
                self.send_header("Content-Length", str(length))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)
                return True

            def _etag(self) -> str | None:
                path = Path(self.translate_path(self.path))
                if not etags or not path.is_file():
                    return None
                status = path.stat()
                return f'"{status.st_size:x}-{status.st_mtime_ns:x}"'

            def send_header(self, keyword: str, value: str) -> None:
                if keyword == "Last-Modified":
                    if self.command == "HEAD" and bare_head:
                        return
                    if (etag := self._etag()) is not None:
                        super().send_header("ETag", etag)
                super().send_header(keyword, value)

            def send_response(self, code: int, message: str | None = None) -> None:
                if self.command == "GET" and code == 304:
                    server.not_modified.append(self.path)
                super().send_response(code, message)

            def copyfile(self, source, outputfile) -> None:
                server.bodies.append(self.path)
                super().copyfile(source, outputfile)

            def _not_modified_by_etag(self) -> bool:
                """If-None-Match with the file's ETag: 304 (http.server itself answers only If-Modified-Since)."""
                etag = self._etag()
                if etag is None or self.headers.get("If-None-Match") != etag:
                    return False
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Date", email.utils.formatdate(usegmt=True))
                self.end_headers()
                return True

            def do_GET(self) -> None:
                server.requests.append(self.path)
                if not self._scripted() and not self._not_modified_by_etag():
                    super().do_GET()

            def do_HEAD(self) -> None:
                server.head_requests.append(self.path)
                if not self._scripted():
                    super().do_HEAD()

            def log_message(self, *args) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, relative: str, *answers: Scripted, method: str = "GET") -> None:
        """Answer the next `method` requests for `relative` with `answers`, in order, then serve the file."""
        self._script[(method, "/" + relative.lstrip("/"))].extend(answers)

    def reset(self) -> None:
        self._script.clear()
        self.requests.clear()
        self.head_requests.clear()
        self.bodies.clear()
        self.not_modified.clear()

    def start(self) -> MirrorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a folder of TLC files (named as the release or the feed names them)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tlc-mirror-"))
    for relative in build_mirror(args.source, root):
        print(relative)
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
        print(f"serving {root} at http://127.0.0.1:{args.port}", flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    main()
