"""CAPACITY.md: what backfilling 2019-01 to the latest TLC month costs, from measured rates and the TLC's sizes.

    .venv/bin/python benchmarks/capacity.py   # reads benchmarks/results.json and benchmarks/tlc_months.csv

The rates are the `capacity` item of `benchmarks/run.py`: the platform's typed and report stages in
bare Spark at three sizes of month, on this machine's cores. The sizes are the TLC's own files
(`tlc_months.csv`, see `tlc_months.md`); months it does not list are assumed to be the mean of the
last twelve it does. Everything assumed is printed next to the figure it changes.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Dated prices (USD, on-demand, us-central1). The Dataproc fee is from cloud.google.com/dataproc/pricing
# ("$0.010 * # of vCPUs * hourly duration"); the n1-standard prices are Compute Engine's list prices
# (n1-standard-4 $0.19/h, n1-standard-8 $0.38/h, as recorded 2018-07-06 and unchanged for n1 since, as
# far as we know); pd-standard $0.04 per GB-month. Check the current pages before spending.
PRICES_READ = "2026-11-30"
DATAPROC_PER_VCPU_HOUR = 0.010
VM_PER_HOUR = {"n1-standard-4": 0.19, "n1-standard-8": 0.38}
VCPUS = {"n1-standard-4": 4, "n1-standard-8": 8}
CLUSTER_START_S = 90  # creating a cluster: Google says Dataproc clusters start in 90 seconds or less on average
SHAPES = [  # (name, master, workers, worker type)
    ("single node n1-standard-4", "n1-standard-4", 0, "n1-standard-4"),
    ("1 master + 2 workers n1-standard-4", "n1-standard-4", 2, "n1-standard-4"),
    ("1 master n1-standard-4 + 4 workers n1-standard-8", "n1-standard-4", 4, "n1-standard-8"),
]
LATEST_DELAY_MONTHS = 2  # the TLC publishes a month about two months after it ends
# Dataproc Serverless (cloud.google.com/dataproc-serverless/pricing, read 2026-12-03): $0.060 per DCU-hour
# (Standard); a batch takes at least 12 DCUs by default (a 4-vCPU driver and two 4-vCPU executors: 8 task
# vCPUs); no VM or disk charge. A batch's start (provisioning) is assumed to be a minute.
SERVERLESS_PER_DCU_HOUR = 0.060
SERVERLESS_DCUS, SERVERLESS_TASK_VCPUS = 12, 8
SERVERLESS_START_S = 60
RANGE_MONTHS = 12  # months per ranged run of one color: one Dataproc workload per stage and range


@dataclass(frozen=True)
class Rate:
    rows: int
    typed_s: float
    report_s: float
    cores: int

    def per_core(self, seconds: float) -> float:
        return self.rows / seconds / self.cores


def rates(results: dict, cores: int) -> list[Rate]:
    measured = []
    for runs in results.get("capacity", {}).values():
        measured.append(
            Rate(
                rows=runs[0]["rows"],
                typed_s=statistics.median(r["typed_s"] for r in runs),
                report_s=statistics.median(r["revenue_s"] for r in runs),
                cores=cores,
            )
        )
    return sorted(measured, key=lambda r: r.rows)


def ranged_rates(raw: dict, cores: int) -> Rate | None:
    """The stages' rates in the `range` item's first runs: the twelve months as one ranged run, step by step."""
    runs = [
        r
        for r in raw["results"].get("range", {}).get("dagster, one --partition-range run", [])
        if {"typed_trips", "revenue_report"} <= set(r.get("steps", {}))
    ]
    if not runs:
        return None
    return Rate(
        rows=RANGE_MONTHS * raw.get("year_rows", 0),
        typed_s=statistics.median(r["steps"]["typed_trips"] for r in runs),
        report_s=statistics.median(r["steps"]["revenue_report"] for r in runs),
        cores=cores,
    )


def months_to(latest: dt.date) -> list[str]:
    months, month = [], dt.date(2019, 1, 1)
    while month <= latest:
        months.append(f"{month:%Y-%m}")
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


def history(today: dt.date) -> tuple[dict[tuple[str, str], tuple[int, int, bool]], str]:
    """(color, month) -> (rows, parquet bytes, measured?) from 2019-01 to the latest published month."""
    listed = {}
    with (HERE / "tlc_months.csv").open() as f:
        for row in csv.DictReader(f):
            listed[(row["color"], row["month"])] = (int(row["rows"]), int(row["parquet_bytes"]))
    year, month = today.year, today.month - LATEST_DELAY_MONTHS
    while month < 1:
        year, month = year - 1, month + 12
    months = months_to(dt.date(year, month, 1))
    sizes = {}
    for color in ("green", "yellow"):
        known = sorted(m for c, m in listed if c == color)[-12:]
        mean_rows = int(statistics.mean(listed[(color, m)][0] for m in known))
        mean_bytes = int(statistics.mean(listed[(color, m)][1] for m in known))
        for m in months:
            if (color, m) in listed:
                sizes[(color, m)] = (*listed[(color, m)], True)
            else:
                sizes[(color, m)] = (mean_rows, mean_bytes, False)
    return sizes, months[-1]


def write(results_path: Path = HERE / "results.json", output: Path = HERE / "CAPACITY.md") -> None:
    raw = json.loads(results_path.read_text())
    cores = raw["machine"]["cpus"]
    measured = rates(raw["results"], cores)
    if len(measured) < 3:
        raise SystemExit("run `benchmarks/run.py --only capacity` first: CAPACITY.md needs the rates at three sizes")
    today = dt.date.fromisoformat(raw["machine"]["date"][:10])
    sizes, latest = history(today)
    big = measured[-1]
    typed_rate, report_rate = big.per_core(big.typed_s), big.per_core(big.report_s)
    small = measured[0]
    # What a month costs beyond its rows (job scheduling, file listing, the audit reads), from the smallest size.
    overhead_s = max(0.0, small.typed_s - small.rows / typed_rate / cores) + max(
        0.0, small.report_s - small.rows / report_rate / cores
    )
    ranged = ranged_rates(raw, cores)
    if ranged is not None:  # the ranged run's own step times: per-month costs included, none to add
        typed_rate, report_rate, overhead_s = ranged.per_core(ranged.typed_s), ranged.per_core(ranged.report_s), 0.0
    total_rows = sum(r for r, _, _ in sizes.values())
    total_bytes = sum(b for _, b, _ in sizes.values())
    partitions = len(sizes)
    assumed = sorted({m for (c, m), (_, _, known) in sizes.items() if not known})
    core_s = total_rows / typed_rate + total_rows / report_rate
    laptop_s = core_s / cores + partitions * overhead_s
    largest = max(sizes.items(), key=lambda item: item[1][0])
    feed = raw["results"].get("feed", {}).get("dagster", [])
    feed = [r for r in feed if r.get("raw_bytes") and r.get("typed_bytes")]  # runs that measured the zones
    typed_share = statistics.median(r["typed_bytes"] / r["raw_bytes"] for r in feed) if feed else 1.0
    month = raw["results"].get("month", {})
    dagster_share = (
        statistics.median(r["spark_steps_s"] for r in month["dagster"])
        / statistics.median(r["stages_s"] for r in month["bare spark"])
        if month.get("dagster") and month.get("bare spark")
        else 1.0
    )
    share_said = (
        f"its Spark steps took {dagster_share:.2f}x bare Spark's stage time on the 3M-row month: session start, "
        "checks' reads"
    )
    if ranged is not None:
        dagster_share, share_said = 1.0, "the rates are the ranged run's own steps"
    big_runs = raw["results"].get("big", {}).get("dagster", [])
    big_rss = max((r.get("tree_rss_mib", 0) for r in big_runs), default=None)

    lines = [
        "# Capacity plan: backfilling both colors from 2019-01 to the latest TLC month",
        "",
        f"Written by `.venv/bin/python benchmarks/capacity.py` from `results.json` ({raw['machine']['date']}, "
        f"{cores} CPUs, {raw['machine']['memory_gib']} GiB) and `tlc_months.csv` (see `tlc_months.md`).",
        "",
        "## Measured inputs: the platform's Spark stages, rows per second per core",
        "",
        "Bare Spark in one process (`benchmarks/probes.py bare-spark`): the same `write_typed_trips` and "
        "`write_revenue_report` the assets and the Dataproc job run, session start not counted. The load "
        "column of RESULTS.md shows what else ran on the cores at the time: with a busy machine these "
        "rates are on the low side, and the times below on the high side.",
        "",
        "| month | rows | typed stage | rows/s/core | report stage | rows/s/core |",
        "|---|---|---|---|---|---|",
    ]
    for name, rate in zip(sorted(raw["results"]["capacity"], key=lambda n: raw["results"]["capacity"][n][0]["rows"]),
                          measured, strict=True):  # fmt: skip
        lines.append(f"| {name} | {rate.rows:,} | {rate.typed_s:.1f} s | {rate.per_core(rate.typed_s):,.0f} | "
                     f"{rate.report_s:.1f} s | {rate.per_core(rate.report_s):,.0f} |")  # fmt: skip
    if ranged is not None:
        lines += [
            "",
            f"**The plan uses the ranged run's rates** (the `range` item: {RANGE_MONTHS} months of "
            f"{ranged.rows // RANGE_MONTHS:,} rows as one `--partition-range` run, its `typed_trips` and "
            f"`revenue_report` steps {ranged.typed_s:.1f} s and {ranged.report_s:.1f} s): {typed_rate:,.0f} and "
            f"{report_rate:,.0f} rows/s/core, with each month's audits, publication and checks in them, so no "
            "fixed cost per partition is added.",
        ]
    else:
        lines += [
            "",
            f"The plan uses the largest size's rates ({typed_rate:,.0f} and {report_rate:,.0f} rows/s/core), where "
            f"fixed costs matter least, plus a fixed cost per partition of {overhead_s:.1f} s (what the smallest "
            "month takes beyond its rows at those rates: job start, listing, audits).",
        ]
    lines += [
        "",
        "## The history to backfill",
        "",
        f"2019-01 to {latest} (the TLC publishes about {LATEST_DELAY_MONTHS} months after a month ends; today is "
        f"{today}), both colors: **{partitions} partitions, {total_rows / 1e6:,.0f} million rows, "
        f"{total_bytes / 2**30:.1f} GiB of parquet** as published.",
        "",
        f"- Row counts and sizes of 2019-01 to 2024-05 are the TLC files' own; the {len(assumed)} months from "
        f"{assumed[0] if assumed else '-'} to {assumed[-1] if assumed else '-'} are not in that list and are "
        "assumed to be the mean of each color's last twelve listed months.",
        f"- The largest month is {largest[0][0]} {largest[0][1]} with {largest[1][0]:,} rows.",
        "",
        "## One laptop (2 cores, 8 GiB)",
        "",
        f"- **Time**: {core_s / 3600:.1f} core-hours of Spark stages → {laptop_s / 3600:.1f} h of wall time on 2 "
        f"cores ({total_rows / 1e6:,.0f} M rows at the rates above, plus {partitions} x {overhead_s:.1f} s); "
        f"about {laptop_s * dagster_share / 3600:.1f} h as Dagster runs it ({share_said}). "
        "Not counted: the download (at 10 MB/s, "
        f"{total_bytes / 10e6 / 3600:.1f} h; it overlaps the work of earlier months in a backfill).",
        f"- **Disk**: the raw files ({total_bytes / 2**30:.1f} GiB) plus the typed parquet ({typed_share:.2f}x the "
        "raw parquet, measured on the TLC's green 2024-01" + ("" if feed else " — not measured, assumed 1.0") + ") "
        "plus the bucket copy in the local profile's publish zone (the typed size again): about "
        f"{(1 + 2 * typed_share) * total_bytes / 2**30:.0f} GiB; reports are negligible.",
        (
            f"- **Memory**: a 10-million-row month peaked at {big_rss:,.0f} MiB (Python and JVM together) with the "
            "platform's default driver memory; the largest real month is smaller, so memory is not what runs out."
            if big_rss
            else "- **Memory**: run `benchmarks/run.py --only big` to measure the 10-million-row month."
        ),
        f"- **What runs out first**: time, at about {laptop_s * dagster_share / 3600:.1f} h of a laptop's two "
        "cores fully busy (and longer on a laptop that is also used); disk is "
        f"{(1 + 2 * typed_share) * total_bytes / 2**30:.0f} GiB, within a laptop's free space; memory is bounded "
        "per month.",
        "",
        f"## Dataproc (prices read {PRICES_READ}, USD, on-demand, us-central1)",
        "",
        f"Dataproc's fee is ${DATAPROC_PER_VCPU_HOUR:.3f} per vCPU-hour on top of the Compute Engine VMs "
        + ", ".join(f"{k} ${v:.2f}/h" for k, v in VM_PER_HOUR.items())
        + ". Assumed: a worker vCPU runs the stages at this machine's per-core rate; the master does not "
        f"run tasks when there are workers; months run {2}-wide in parallel ranges so per-partition fixed "
        f"costs overlap; the cluster takes {CLUSTER_START_S} s to create and is deleted after.",
        "",
        "| cluster | vCPUs (task vCPUs) | wall time | cost |",
        "|---|---|---|---|",
    ]
    for name, master, workers, worker_type in SHAPES:
        task_vcpus = VCPUS[master] if workers == 0 else workers * VCPUS[worker_type]
        vcpus = VCPUS[master] + workers * VCPUS[worker_type]
        seconds = CLUSTER_START_S + core_s / task_vcpus + partitions * overhead_s / 2
        hourly = vcpus * DATAPROC_PER_VCPU_HOUR + VM_PER_HOUR[master] + workers * VM_PER_HOUR[worker_type]
        lines.append(f"| {name} | {vcpus} ({task_vcpus}) | {seconds / 3600:.2f} h | ${hourly * seconds / 3600:.2f} "
                     f"(${hourly:.2f}/h) |")  # fmt: skip
    batches = 2 * (-(-len({m for _, m in sizes}) // RANGE_MONTHS)) * 2 + 1  # typed and report per range, + zones
    serverless_s = core_s / SERVERLESS_TASK_VCPUS + batches * SERVERLESS_START_S
    serverless_cost = SERVERLESS_DCUS * SERVERLESS_PER_DCU_HOUR * (core_s / SERVERLESS_TASK_VCPUS) / 3600 + (
        batches * SERVERLESS_DCUS * SERVERLESS_PER_DCU_HOUR * SERVERLESS_START_S / 3600
    )
    lines.append(
        f"| Dataproc Serverless, default batch size, {batches} batches one after another | 12 DCUs "
        f"({SERVERLESS_TASK_VCPUS}) | {serverless_s / 3600:.2f} h | ${serverless_cost:.2f} "
        f"(${SERVERLESS_DCUS * SERVERLESS_PER_DCU_HOUR:.2f}/h) |"
    )
    lines += [
        "",
        f"Serverless: ${SERVERLESS_PER_DCU_HOUR:.3f} per DCU-hour, a default batch 12 DCUs with 8 task vCPUs, no "
        f"VM charge; each range of {RANGE_MONTHS} months of one color is one batch per stage, each assumed to "
        f"take {SERVERLESS_START_S} s to start and to be billed for it.",
        "",
        "Storage: the GCS copy of the typed months costs about $0.02 per GB-month (standard class) beyond "
        "the backfill, and BigQuery loads from GCS are free; neither changes the picture.",
    ]
    output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    write()
