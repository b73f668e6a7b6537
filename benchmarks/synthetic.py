"""A full-size synthetic yellow month in the course's CSV format, deterministic and streamed to disk.

    .venv/bin/python benchmarks/synthetic.py OUT.csv.gz --rows 3000000 --month 2021-03 --seed 6

The header and column order are the TLC 2021 yellow CSV's (the course's `yellow_tripdata_2021-01.csv`);
integers are written as integers, amounts with two decimals, timestamps `YYYY-MM-DD HH:MM:SS`, LF line
endings, gzip as released. About 0.02 % of pickups fall outside the month, as in the real files. Rows
are produced in blocks of 50,000 and written as they are made: memory stays flat whatever `--rows`.
The same seed and arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import random
from pathlib import Path

from taxi_platform.tlc.schemas import header_of

BLOCK = 50_000


def rows(count: int, year: int, month: int, seed: int):
    """Yield blocks of CSV lines (str) for `count` trips in the month."""
    rng = random.Random(seed)
    start = dt.datetime(year, month, 1)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1)
    span = int((end - start).total_seconds())
    epoch = start.timestamp()
    fmt = "%Y-%m-%d %H:%M:%S"
    fromts = dt.datetime.fromtimestamp
    produced = 0
    while produced < count:
        block = []
        for _ in range(min(BLOCK, count - produced)):
            offset = rng.randrange(span)
            if rng.random() < 0.0002:  # a pickup in the previous month, as real files have
                offset = -rng.randrange(1, 86_400)
            duration = rng.randrange(60, 3_600)
            pickup = fromts(epoch + offset)
            dropoff = fromts(epoch + offset + duration)
            distance = round(duration / 3600 * rng.uniform(4, 25), 2)
            fare = round(2.5 + distance * 2.5 + duration / 60 * 0.5, 2)
            tip = round(fare * rng.choice((0, 0, 0.1, 0.15, 0.2)), 2)
            tolls = 6.12 if rng.random() < 0.05 else 0.0
            congestion = 2.5 if rng.random() < 0.9 else 0.0
            total = round(fare + 0.5 + 0.5 + tip + tolls + 0.3 + congestion, 2)
            block.append(
                f"{rng.choice((1, 2))},{pickup.strftime(fmt)},{dropoff.strftime(fmt)},{rng.randint(1, 4)},"
                f"{distance:.2f},1,N,{rng.randint(1, 265)},{rng.randint(1, 265)},{rng.choice((1, 1, 2))},"
                f"{fare:.2f},0.5,0.5,{tip:.2f},{tolls:.2f},0.3,{total:.2f},{congestion:.1f}\n"
            )
        produced += len(block)
        yield "".join(block)


def write_month(path: Path, count: int, month: str = "2021-03", seed: int = 6) -> Path:
    """Write the synthetic month to `path` (.csv.gz); returns `path`."""
    year, mm = (int(part) for part in month.split("-"))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    with gzip.GzipFile(partial, "wb", compresslevel=1, mtime=0) as out:
        out.write((",".join(header_of("yellow")) + "\n").encode())
        for block in rows(count, year, mm, seed):
            out.write(block.encode())
    partial.replace(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--month", default="2021-03")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    write_month(args.output, args.rows, args.month, args.seed)


if __name__ == "__main__":
    main()
