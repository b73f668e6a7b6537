"""RESULTS.md from the raw numbers of `benchmarks/run.py` (also kept in `benchmarks/results.json`).

.venv/bin/python benchmarks/report.py   # rewrite RESULTS.md from results.json
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

MB = 1_000_000 / 2**20  # MiB per MB


def stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt(values: list[float], unit: str = "s", digits: int = 1) -> str:
    if not values:
        return "-"
    med, low, high = stats(values)
    if len(values) == 1:
        return f"{med:.{digits}f} {unit}"
    return f"{med:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f}, n={len(values)})"


def loads(runs: list[dict]) -> str:
    return ", ".join(f"{r['load_before']:.1f}" for r in runs)


def col(runs: list[dict], key: str) -> list[float]:
    return [r[key] for r in runs if r.get(key) is not None]


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("**met**" if ok else "**missed**")


def median_of(runs: list[dict], key: str) -> float | None:
    values = col(runs, key)
    return statistics.median(values) if values else None


def step_medians(runs: list[dict]) -> dict[str, float]:
    steps: dict[str, list[float]] = {}
    for run in runs:
        for inner in run.get("runs", []):
            for step, seconds in inner["steps"].items():
                steps.setdefault(step, []).append(seconds)
    return {step: statistics.median(values) for step, values in steps.items()}


def mib(runs: list[dict]) -> str:
    return fmt(col(runs, "tree_rss_mib"), "MiB", 0)


def ratio_row(target: str, mine: list[dict], theirs: list[dict], goal: float, key: str = "wall_s") -> list[str]:
    """A target's row: the ratio of medians, its spread (min/max of mine over median of theirs) and the verdict."""
    if not (mine and theirs):
        return [target, "not measured", f"≤ {goal:.2f}", "-"]
    base = median_of(theirs, key)
    ratio = median_of(mine, key) / base
    low, high = min(col(mine, key)) / base, max(col(mine, key)) / base
    return [target, f"{ratio:.2f} ({low:.2f}-{high:.2f}): {median_of(mine, key):.1f} s against {base:.1f} s",
            f"≤ {goal:.2f}", verdict(ratio <= goal)]  # fmt: skip


def scale_sections(raw: dict) -> list[str]:
    """Issue 13's targets: real-size month, UI backfills, unchanged rerun, memory; against the course's scripts."""
    results = raw["results"]
    get = lambda item, variant: results.get(item, {}).get(variant, [])  # noqa: E731
    ui, again = "dagster, UI backfill", "dagster, UI backfill again, nothing changed"
    month_rows = raw.get("month_rows", 3_000_000)
    year_rows = raw.get("year_rows", 0)
    rows = [
        ratio_row(f"1. one real-size month ({month_rows:,} rows) raw → report / the course's prepare + spark-sql.py",
                  get("month", "dagster"), get("month", "course"), 0.8),
        ratio_row(f"2. UI backfill of 12 months of one color ({year_rows:,} rows each) / the course's batched way",
                  get("year", ui), get("year", "course"), 0.7),
        ratio_row("2. UI backfill of the 8 small real partitions / the course's batched way", get("small", ui),
                  get("small", "course"), 1.0),
    ]  # fmt: skip
    ranged, ranged_again = "dagster, one --partition-range run", "dagster, the same run again, nothing changed"
    per_color = "dagster, one --partition-range run per color, at once"
    rows.insert(
        0,
        ratio_row(
            f"R1. 12 months of one color ({year_rows:,} rows each), one `--partition-range` run / the "
            "course's batched way",
            get("range", ranged),
            get("range", "course"),
            0.7,
        ),
    )
    rows.insert(
        1,
        ratio_row(
            "R4. the 12 months on a standalone master and worker / the course's batch submitted to the same master",
            get("standalone", ranged),
            get("standalone", "course"),
            0.8,
        ),
    )
    rows.insert(
        1,
        ratio_row(
            "R2. the 12 months as a UI backfill on `dagster dev`, the daemon's pick-up included / the course's "
            "batched way",
            get("year", ui),
            get("year", "course"),
            1.0,
        ),
    )
    rows.insert(
        2,
        ratio_row(
            "R3. the 8 small real partitions, two `--partition-range` runs at once (one per color) / the course's "
            "batched way",
            get("small", per_color),
            get("small", "course"),
            1.0,
        ),
    )
    rows.insert(
        4,
        ratio_row(
            "R5. a rerun of the unchanged 12-month range / its first run",
            get("range", ranged_again),
            get("range", ranged),
            0.1,
        ),
    )
    if get("year", again) and get("year", ui):
        rerun, first = median_of(get("year", again), "wall_s"), median_of(get("year", ui), "wall_s")
        rows.append(["4. rerun of the unchanged 12-month backfill / its first run",
                     f"{rerun / first:.2f}: {rerun:.1f} s against {first:.1f} s", "nothing downloaded or parsed",
                     "-"])  # fmt: skip
    big = get("big", "dagster")
    if big:
        rows.append([f"5. a {raw.get('big_rows', 0):,}-row month completes with the default driver memory",
                     f"{fmt(col(big, 'wall_s'))}, peak RSS {mib(big)} (Python + JVM)", "< 8 GiB laptop",
                     verdict(max(col(big, "tree_rss_mib")) < 8 * 1024 * 0.75)])  # fmt: skip
    lines = ["", "## Targets: at real size against the course's own scripts", "",
             "Ratios of medians, the platform's time over the course's on the same files in the same benchmark "
             "run, variants interleaved; in brackets the platform's fastest and slowest run over the course's "
             "median.", "", "| target | measured | goal | |", "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {' | '.join(row)} |" for row in rows]
    sections = [
        ("month", f"One real-size month: a generated yellow month of {month_rows:,} rows (`benchmarks/synthetic.py`)",
         [("dagster", "Dagster: `trip_chain`, one run in a fresh process (as `dagster asset materialize`)"),
          ("course", "the course: download, `spark-submit` prepare, `spark-submit` spark-sql.py"),
          ("bare spark", "bare Spark: the platform's two stage functions in one `python` process")]),
        ("year", f"Twelve months of one color, {year_rows:,} rows each: {', '.join(raw.get('year_partitions', []))}",
         [(ui, "Dagster: asset backfill launched over GraphQL on a running `dagster dev` (daemon + run queue)"),
          (again, "the same backfill again, every file unchanged"),
          ("course", "the course's batched way: download loop, 1 prepare over all months, 1 spark-sql.py")]),
        ("range", f"Twelve months of one color as one ranged run, {year_rows:,} rows each",
         [(ranged, "Dagster: `dagster asset materialize --select 'raw_trips*' --partition-range FIRST...LAST`"),
          (ranged_again, "the same command again, every file unchanged"),
          ("course", "the course's batched way: download loop, 1 prepare over all months, 1 spark-sql.py")]),
        ("standalone", f"The twelve months on a standalone master and worker, {year_rows:,} rows each",
         [(ranged, "Dagster: the same ranged run, TAXI_PROFILE=standalone"),
          ("course", "the course's batched way, both spark-submits to the same master")]),
        ("small", f"The 8 small real partitions: {', '.join(raw['backfill_partitions'])}",
         [(per_color, "Dagster: one `--partition-range` run per color, both started at once"),
          (ui, "Dagster: asset backfill launched over GraphQL on a running `dagster dev`"),
          ("course", "the course's batched way")]),
        ("big", f"A 2019-size month: {raw.get('big_rows', 0):,} generated yellow rows",
         [("dagster", "Dagster: `trip_chain`, one run, the platform's default Spark driver memory")]),
    ]  # fmt: skip
    for item, title, variants in sections:
        if item not in results:
            continue
        lines += ["", f"### {title}", "", "| variant | wall time | detail | peak RSS (process tree) | load |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for variant, label in variants:
            runs = get(item, variant)
            if not runs:
                continue
            if "daemon_pickup_s" in runs[0]:
                detail = (f"{runs[0]['runs']} runs; daemon pick-up {fmt(col(runs, 'daemon_pickup_s'))}, runs "
                          f"{fmt(col(runs, 'runs_s'))}")  # fmt: skip
            elif "prepare_s" in runs[0]:
                detail = (f"download {fmt(col(runs, 'download_s'))}, prepare {fmt(col(runs, 'prepare_s'))}, "
                          f"report {fmt(col(runs, 'report_s'))}")  # fmt: skip
            elif "run_process_s" in runs[0]:
                detail = f"{runs[0]['runs']} runs; the longer {fmt([max(r['run_process_s']) for r in runs])}"
            elif "steps" in runs[0] and "typed_trips" in runs[0]["steps"]:
                detail = ", ".join(f"`{step}` {fmt([r['steps'].get(step, 0.0) for r in runs])}"
                                   for step in ("raw_trips", "typed_trips", "revenue_report"))  # fmt: skip
            elif "stages_s" in runs[0]:
                detail = f"typed {fmt(col(runs, 'typed_s'))}, report {fmt(col(runs, 'revenue_s'))}"
            else:
                detail = f"Spark steps {fmt(col(runs, 'spark_steps_s'))}"
            lines.append(f"| {label} | {fmt(col(runs, 'wall_s'))} | {detail} | {mib(runs)} | {loads(runs)} |")
        if item in ("month", "big"):
            steps = step_medians(get(item, "dagster"))
            if steps:
                lines += ["", "Dagster steps (median): " + ", ".join(f"`{k}` {v:.1f} s" for k, v in steps.items())]
    return lines


def write_results(raw: dict, output: Path) -> None:
    results, machine = raw["results"], raw["machine"]
    get = lambda item, variant: results.get(item, {}).get(variant, [])  # noqa: E731
    lines = [
        "# Benchmark results",
        "",
        f"Written by `.venv/bin/python benchmarks/run.py` on {machine['date']}, in {machine['benchmark_minutes']} min.",
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['memory_gib']} GiB, {machine['platform']}, Python "
        f"{machine['python']}, {machine['java']}. Data: `{machine['data']}`.",
        "",
        "The machine may be shared, so its load may vary during a run: the "
        "compared variants were run interleaved (A, B, A, B, ...) so that both see the same load, every "
        "result was recorded with the 1-minute `os.getloadavg()` taken just before it (the *load* "
        "columns), and each figure is the median (min-max, n runs). Ratios are of medians. Each measured "
        "run is a fresh process paying its own interpreter and JVM start.",
        "",
    ]
    lines += [f"- {note}" for note in raw["notes"]]
    lines += scale_sections(raw)
    rows: list[tuple[str, str, str, str]] = []  # target, measured, verdict

    one_d, one_p, one_b = get("one", "dagster"), get("one", "plain"), get("one", "bare spark")
    one_ratio = None
    if one_d and one_p:
        one_ratio = median_of(one_d, "wall_s") / median_of(one_p, "wall_s")
        rows.append(("one partition raw→report no slower than the plain-script way",
                     f"Dagster / plain = {one_ratio:.2f}", "≤ 1.00", verdict(one_ratio <= 1.0)))  # fmt: skip
    back_d = get("backfill", "dagster, 1 run per partition, 2 at a time")
    back_p = get("backfill", "plain, per month")
    back_batched = get("backfill", "plain, batched (1 prepare + 1 spark-sql.py)")
    if back_d and back_p:
        ratio = median_of(back_d, "wall_s") / median_of(back_p, "wall_s")
        rows.append(("backfill at most 0.7x the plain-script way: one process per run, 2 at a time",
                     f"Dagster / plain per month = {ratio:.2f}", "≤ 0.70", verdict(ratio <= 0.7)))  # fmt: skip
    for item, label in (("synthetic", "3M-row month"), ("one", "green 2021-01")):
        dag, bare = get(item, "dagster"), get(item, "bare spark")
        if dag and bare:
            d, b = median_of(dag, "spark_steps_s"), median_of(bare, "stages_s")
            rows.append((f"Spark stage time ≤ 1.10 x bare Spark + 3 s ({label})",
                         f"{d:.1f} s vs 1.10 x {b:.1f} + 3 = {1.1 * b + 3:.1f} s ({d / b:.2f}x bare)",
                         "≤ 1.10x + 3 s", verdict(d <= 1.1 * b + 3)))  # fmt: skip
    imports = col(get("import", "import taxi_platform.definitions"), "import_s")
    if imports:
        rows.append(("`import taxi_platform.definitions` under 1.5 s", f"{statistics.median(imports):.2f} s (max "
                     f"{max(imports):.2f})", "< 1.5 s", verdict(statistics.median(imports) < 1.5)))  # fmt: skip
    downloads = results.get("download", {})
    if downloads:
        peak = max(r["peak_rss_mib"] for runs in downloads.values() for r in runs) / MB
        rows.append(("download peak memory under 150 MB whatever the file size",
                     f"max peak RSS {peak:.0f} MB", "< 150 MB", verdict(peak < 150)))  # fmt: skip
    ticks = get("sensor", "landing_files_sensor, 10,000 files")
    if ticks:
        worst = max(max(r[k] for k in ("first_tick_all_new", "steady_tick_nothing_new", "tick_after_one_new_file"))
                    for r in ticks)  # fmt: skip
        rows.append(("sensor tick over 10,000 files under 2 s", f"slowest tick {worst:.2f} s", "< 2 s",
                     verdict(worst < 2)))  # fmt: skip
    ui = get("ui", "dagster dev")
    if ui:
        rows.append(("UI answers after `dagster dev` starts (no target)",
                     f"{statistics.median(col(ui, 'code_loaded_s')):.1f} s", "-", "-"))  # fmt: skip

    lines += ["", "## Earlier targets", "", "| target | measured (medians) | goal | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]

    if not (one_d or one_p or one_b):
        lines += ["", "(Earlier items not run this time: `--only one,backfill,feed,synthetic,...` to add them.)"]
    lines += ["", "## 1. One partition, green 2021-01 (real), raw → report", "",
              "| variant | wall time | Spark stages | load |", "|---|---|---|---|"]  # fmt: skip
    lines.append(f"| Dagster: `trip_chain` (5 assets + 8 checks), fresh process | {fmt(col(one_d, 'wall_s'))} | "
                 f"{fmt(col(one_d, 'spark_steps_s'))} | {loads(one_d)} |")  # fmt: skip
    lines.append(f"| plain: download + `spark-submit` prepare + `spark-submit` spark-sql.py | "
                 f"{fmt(col(one_p, 'wall_s'))} | prepare {fmt(col(one_p, 'prepare_s'))}, report "
                 f"{fmt(col(one_p, 'report_s'))} | {loads(one_p)} |")  # fmt: skip
    lines.append(f"| bare Spark: one `python` process, the same two stage functions | {fmt(col(one_b, 'wall_s'))} "
                 f"| {fmt(col(one_b, 'stages_s'))} (+ session {fmt(col(one_b, 'session_s'))}) "
                 f"| {loads(one_b)} |")  # fmt: skip
    if one_ratio is not None and one_b:
        lines += ["", f"Ratios of medians: Dagster / plain = {one_ratio:.2f}; Dagster / bare Spark (process) = "
                  f"{median_of(one_d, 'wall_s') / median_of(one_b, 'wall_s'):.2f}."]  # fmt: skip
    lines += ["", "Where a Dagster run's time goes (median step durations, from the run's event log; the first "
              "Spark step includes starting the run's SparkSession):", ""]  # fmt: skip
    lines += [f"- `{step}`: {seconds:.2f} s" for step, seconds in step_medians(one_d).items()]

    lines += ["", f"## 2. Backfill: {', '.join(raw['backfill_partitions'])} through the report", "",
              "| variant | wall time | detail | load |", "|---|---|---|---|"]  # fmt: skip
    for run_label, runs in (("Dagster: one `trip_chain` run per partition, fresh process each, 2 at a time "
                             "(the `max_concurrent_runs: 2` queue)", back_d),
                            ("plain, per month: download loop, then per month `spark-submit` prepare + "
                             "`spark-submit` spark-sql.py", back_p),
                            ("plain, batched (a student by hand): download loop, 1 prepare over all months, "
                             "1 spark-sql.py over all", back_batched)):  # fmt: skip
        if not runs:
            continue
        if "runs" in runs[0]:
            detail = f"{runs[0]['runs']} runs, one JVM each; Spark steps {fmt(col(runs, 'spark_steps_s'))} in all"
        else:
            detail = (f"{runs[0]['spark_submits']} spark-submits; prepare {fmt(col(runs, 'prepare_s'))}, report "
                      f"{fmt(col(runs, 'report_s'))}")  # fmt: skip
        lines.append(f"| {run_label} | {fmt(col(runs, 'wall_s'))} | {detail} | {loads(runs)} |")
    if back_p and back_d:
        dagster = median_of(back_d, "wall_s")
        batched = f", / plain batched = {dagster / median_of(back_batched, 'wall_s'):.2f}" if back_batched else ""
        lines += ["", f"Ratio Dagster (one process per run) / plain per month = "
                  f"{dagster / median_of(back_p, 'wall_s'):.2f}{batched}."]  # fmt: skip

    feed_d, feed_b = get("feed", "dagster"), get("feed", "bare spark")
    if feed_d and feed_b:
        lines += ["", "## 2b. A TLC feed month: green 2024-01 (the TLC's real parquet, 56,551 rows), raw → report", "",
                  "| variant | wall time | Spark stages | load |", "|---|---|---|---|"]  # fmt: skip
        lines.append(f"| Dagster: `trip_chain` from the feed (the release lacks the month), fresh process | "
                     f"{fmt(col(feed_d, 'wall_s'))} | {fmt(col(feed_d, 'spark_steps_s'))} | "
                     f"{loads(feed_d)} |")  # fmt: skip
        lines.append(f"| bare Spark: one `python` process, the same stage functions over the parquet file | "
                     f"{fmt(col(feed_b, 'wall_s'))} | {fmt(col(feed_b, 'stages_s'))} (typed "
                     f"{fmt(col(feed_b, 'typed_s'))}, report {fmt(col(feed_b, 'revenue_s'))}; session "
                     f"{fmt(col(feed_b, 'session_s'))}) | {loads(feed_b)} |")  # fmt: skip
        lines += ["", f"Ratio of medians: Dagster / bare Spark (process) = "
                  f"{median_of(feed_d, 'wall_s') / median_of(feed_b, 'wall_s'):.2f}; Spark stages only = "
                  f"{median_of(feed_d, 'spark_steps_s') / median_of(feed_b, 'stages_s'):.2f} (Dagster's first "
                  "Spark step includes starting the run's session; bare Spark's session start is counted apart). "
                  "The month comes from the loopback mirror's feed layout (`trip-data/`).", "",
                  "Dagster steps (median):", ""]  # fmt: skip
        lines += [f"- `{step}`: {seconds:.2f} s" for step, seconds in step_medians(feed_d).items()]

    syn_d, syn_b = get("synthetic", "dagster"), get("synthetic", "bare spark")
    lines += ["", "## 3. Synthetic full-size yellow month (benchmarks/synthetic.py), raw → typed parquet → report", "",
              "| variant | wall time | Spark stages | load |", "|---|---|---|---|"]  # fmt: skip
    lines.append(f"| Dagster `trip_chain` | {fmt(col(syn_d, 'wall_s'))} | {fmt(col(syn_d, 'spark_steps_s'))} "
                 f"(typed_trips + revenue_report steps, session start included) | {loads(syn_d)} |")  # fmt: skip
    lines.append(f"| bare Spark | {fmt(col(syn_b, 'wall_s'))} | {fmt(col(syn_b, 'stages_s'))} (typed "
                 f"{fmt(col(syn_b, 'typed_s'))}, report {fmt(col(syn_b, 'revenue_s'))}; session "
                 f"{fmt(col(syn_b, 'session_s'))} not included) | {loads(syn_b)} |")  # fmt: skip
    if syn_d:
        lines += ["", "Dagster steps (median):", ""]
        lines += [f"- `{step}`: {seconds:.2f} s" for step, seconds in step_medians(syn_d).items()]

    lines += ["", "## 4. Start-up, memory, sensor", "", "| item | result | load |", "|---|---|---|"]
    imp = get("import", "import taxi_platform.definitions")
    lines.append(f"| `import taxi_platform.definitions` (in-process timer) | {fmt(col(imp, 'import_s'), digits=2)} | "
                 f"{loads(imp)} |")  # fmt: skip
    lines.append(f"| `dagster dev`: `/server_info` answers | {fmt(col(ui, 'server_answers_s'))} | {loads(ui)} |")
    lines.append(f"| `dagster dev`: GraphQL lists the code location as loaded | {fmt(col(ui, 'code_loaded_s'))} | |")
    for label, runs in downloads.items():
        lines.append(f"| download + check, {label}: peak RSS (`ru_maxrss`) | "
                     f"{fmt([r['peak_rss_mib'] / MB for r in runs], 'MB', 0)} (before the download: "
                     f"{fmt([r['rss_before_download_mib'] / MB for r in runs], 'MB', 0)}) | "
                     f"{loads(runs)} |")  # fmt: skip
    for key, label in (("first_tick_all_new", "first tick, empty cursor (all 10,000 new; 9,832 skipped with a "
                        "warning, 25 runs requested)"), ("steady_tick_nothing_new", "steady tick, nothing new"),
                       ("tick_after_one_new_file", "tick after one file landed")):  # fmt: skip
        lines.append(f"| sensor over 10,000 files: {label} | {fmt(col(ticks, key), digits=2)} | {loads(ticks)} |")
    analysis = output.with_name("ANALYSIS.md")
    if analysis.exists():
        lines += ["", analysis.read_text().strip()]
    output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    write_results(json.loads((here / "results.json").read_text()), here / "RESULTS.md")
