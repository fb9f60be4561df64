"""Progress and memory of a month write: the whole process tree, sampled on a thread.

The writer runs its partition writers in child processes, so the memory that matters is
the resident set of the process *and all its children*; a background thread samples it
(keeping the peak), logs progress at a steady cadence, and warns when the tree approaches
or passes its budget, so the budget is never exceeded silently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024
WARN_AT_FRACTION = 0.9


def tree_rss_bytes(root: psutil.Process | None = None) -> int:
    """Resident set size of a process and all its descendants (0 for those that vanished)."""
    root = root or psutil.Process()
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


@dataclass
class WriteProgress:
    """Counters updated by the writer and read by the monitor thread."""

    total_rows: int
    rows_done: int = 0
    partitions_done: int = 0
    files_done: int = 0
    phase: str = "spill"
    started: float = field(default_factory=time.perf_counter)

    def rows_per_second(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.rows_done / elapsed if elapsed > 0 else 0.0


class MemoryWatch:
    """Samples the process tree's RSS every ``sample_s``; logs progress every ``log_every_s``.

    Use as a context manager around the write. ``peak_bytes`` is the largest sample seen.
    ``root_pid``: the process whose tree is counted (default this one); a step that runs in
    a child of its run's process passes the run's, so that the budget is what the run costs.
    """

    def __init__(
        self,
        progress: WriteProgress,
        budget_bytes: int,
        *,
        log: Callable[[str], None],
        warn: Callable[[str], None],
        log_every_s: float = 10.0,
        sample_s: float = 0.2,
        root_pid: int | None = None,
    ):
        self.progress = progress
        self.budget_bytes = budget_bytes
        self.log, self.warn = log, warn
        self.log_every_s, self.sample_s = log_every_s, sample_s
        self.peak_bytes = 0
        self.over_budget = False
        self._warned_near = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etl3-memory-watch", daemon=True)
        self._process = psutil.Process(root_pid)

    def __enter__(self) -> MemoryWatch:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> int:
        rss = tree_rss_bytes(self._process)
        self.peak_bytes = max(self.peak_bytes, rss)
        if rss > self.budget_bytes and not self.over_budget:
            self.over_budget = True
            self.warn(
                f"process tree RSS {rss / MIB:.0f} MiB is over the budget of"
                f" {self.budget_bytes / MIB:.0f} MiB (phase {self.progress.phase})"
            )
        elif rss > WARN_AT_FRACTION * self.budget_bytes and not (self._warned_near or self.over_budget):
            self._warned_near = True
            self.warn(
                f"process tree RSS {rss / MIB:.0f} MiB is near the budget of"
                f" {self.budget_bytes / MIB:.0f} MiB (phase {self.progress.phase})"
            )
        return rss

    def _run(self) -> None:
        next_log = time.perf_counter() + self.log_every_s
        while not self._stop.wait(self.sample_s):
            rss = self.sample()
            if time.perf_counter() >= next_log:
                next_log += self.log_every_s
                p = self.progress
                self.log(
                    f"{p.phase}: {p.rows_done:,}/{p.total_rows:,} rows, {p.partitions_done:,} partitions,"
                    f" {p.files_done:,} files, {p.rows_per_second():,.0f} rows/s,"
                    f" RSS {rss / MIB:.0f} MiB (peak {self.peak_bytes / MIB:.0f} MiB)"
                )
