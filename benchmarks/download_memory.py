"""Peak memory of downloading + checking a month, as a ratio between a small and a 16x larger file.

    .venv/bin/python benchmarks/download_memory.py

Serves a real green month and a 16x larger gzip (the month's gzip members repeated, still one
valid gzip) from a loopback mirror, runs `TripSource.download` + `inspect_trip_file` for each in a
fresh process, and prints each peak RSS and their ratio. Streaming keeps the ratio near 1.0; reading
the body into memory would make it grow with the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taxi_platform_tests.support.mirror import MirrorServer  # noqa: E402

SOURCE = REPO / "taxi_platform_tests/data/green_tripdata_2021_01.csv.gz"
MULTIPLIER = 16

PROBE = """
import json, resource, sys
from pathlib import Path
from taxi_platform.resources import TripSource
from taxi_platform.tlc import TripMonth, inspect_trip_file
month = TripMonth.parse("green", sys.argv[2])
target = Path(sys.argv[3])
source = TripSource(base_url=sys.argv[1], tlc_url=sys.argv[1])
fetched = source.fetch(source.locate(month), target)
facts = inspect_trip_file(target, "green")
print(json.dumps({"bytes": fetched.bytes, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "mirror"
        (root / "green").mkdir(parents=True)
        month = SOURCE.read_bytes()
        (root / "green/green_tripdata_2021-01.csv.gz").write_bytes(month)
        (root / "green/green_tripdata_2021-02.csv.gz").write_bytes(month * MULTIPLIER)
        server = MirrorServer(root).start()
        try:
            results = {}
            for label, key in (("1x", "2021-01"), (f"{MULTIPLIER}x", "2021-02")):
                out = subprocess.run(
                    [sys.executable, "-c", PROBE, server.url, key, str(Path(tmp) / f"{key}.csv.gz")],
                    cwd=REPO, capture_output=True, text=True, check=True,
                )  # fmt: skip
                results[label] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            server.stop()
    small, large = results["1x"], results[f"{MULTIPLIER}x"]
    for label, result in results.items():
        print(f"{label:>4}: {result['bytes'] / 2**20:7.1f} MiB downloaded, peak RSS {result['peak_rss_mib']:.0f} MiB")
    print(f"file size ratio {large['bytes'] / small['bytes']:.1f}, peak memory ratio "
          f"{large['peak_rss_mib'] / small['peak_rss_mib']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
