"""Was the machine busy while a benchmark ran?  CPU time of everything but this process, from /proc.

A figure taken while something else used the cores is an upper bound; the benchmarks say so
instead of reporting it as the machine's speed.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

BUSY_SHARE = 0.15  # other processes' share of all cores above which a run is called busy


def _cpu_jiffies() -> tuple[int, int] | None:
    try:
        fields = [int(x) for x in open("/proc/stat", encoding="ascii").readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]), idle


def _own_jiffies() -> int:
    times = os.times()
    return int((times.user + times.system + times.children_user + times.children_system) * os.sysconf("SC_CLK_TCK"))


@dataclass
class LoadWatch:
    """Start before the run, ``result()`` after it."""

    started: float = 0.0
    total0: int = 0
    idle0: int = 0
    own0: int = 0

    def start(self) -> "LoadWatch":
        cpu = _cpu_jiffies()
        self.started = time.monotonic()
        if cpu:
            self.total0, self.idle0 = cpu
        self.own0 = _own_jiffies()
        return self

    def result(self) -> dict[str, object]:
        cpu = _cpu_jiffies()
        if cpu is None or not self.total0:
            return {"known": False}
        total, idle = cpu[0] - self.total0, cpu[1] - self.idle0
        others = max(0, (total - idle) - (_own_jiffies() - self.own0))
        share = others / total if total else 0.0
        return {"known": True, "other_processes_cpu_share": round(share, 3), "busy": share > BUSY_SHARE,
                "seconds": round(time.monotonic() - self.started, 1)}


def note(load: dict[str, object]) -> str:
    if not load.get("known"):
        return ""
    share = float(load["other_processes_cpu_share"])  # type: ignore[arg-type]
    if load.get("busy"):
        return (f"- the machine was busy: other processes used {share:.0%} of the CPUs during the run; "
                f"the figures are upper bounds\n")
    return f"- the machine was quiet: other processes used {share:.0%} of the CPUs during the run\n"


def p50_p99(seconds: list[float]) -> dict[str, float]:
    """p50 and p99 of timings taken in seconds, in milliseconds."""
    import numpy as np

    data = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(data, 50)), 3), "p99_ms": round(float(np.percentile(data, 99)), 3)}


def progress(message: str) -> None:
    """One line on stderr per stage, so a run of minutes shows where it is."""
    print(f"bench: {message}", file=sys.stderr, flush=True)
