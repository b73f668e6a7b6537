"""Peak resident memory of a process and everything it started (Python and JVM together), from /proc.

`ru_maxrss` sees one process; a Dagster run is a Python process with a JVM child (and a UI backfill
is a webserver, a daemon and one such pair per run), so the benchmark samples the whole tree instead.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_mib(root: int) -> float:
    """Summed RSS (MiB) of `root` and its descendants right now."""
    tree, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):  # a process that just ended
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        todo += tree.get(pid, [])
    return total / 2**20


class PeakRss:
    """Samples a process tree's summed RSS every `interval` seconds until stopped; `peak_mib` is the largest."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        self.root, self.interval, self.peak_mib = root, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, tree_rss_mib(self.root))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
