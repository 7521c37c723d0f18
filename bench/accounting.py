"""CPU seconds and peak memory of a stack's processes, for bench/scale_out.py and
docs/capacity.md: what each process kind spends per operation, and how large it grows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.common import descendants, peak_rss_mb

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one live process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu(pid: int) -> float:
    """CPU of a process and everything below it that is alive now (gunicorn workers)."""
    return sum(cpu_seconds(p) for p in descendants(pid))


def tree_peak_mb(pid: int) -> tuple[float, int]:
    """The largest peak RSS in a process tree (a gunicorn worker, or the process), and its size."""
    tree = descendants(pid)
    peaks = [mb for mb in (peak_rss_mb(p) for p in tree) if mb is not None]
    return (max(peaks) if peaks else 0.0), len(tree)


def snapshot(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """CPU seconds so far of each process (tree) of a stack, by its Procfile name."""
    return {name: tree_cpu(popen.pid) for name, popen in list(processes.items())}


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after.get(name, 0.0) - before.get(name, 0.0) for name in before}
