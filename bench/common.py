"""Shared helpers for the benchmarks: run commands side by side, time them, report medians."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FAST = [
    "-s",
    "AUTOTHROTTLE_ENABLED=False",
    "-s",
    "DOWNLOAD_DELAY=0",
    "-s",
    "CONCURRENT_REQUESTS=32",
    "-s",
    "CONCURRENT_REQUESTS_PER_DOMAIN=32",
    "-s",
    "LOG_LEVEL=WARNING",
    "-s",
    "DIGEST_PROGRESS=off",
]


def timed(command: list[str], cwd: Path = REPO) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of a command run in a fresh launcher process."""
    launcher = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
        "d = time.perf_counter() - t; "
        "sys.stderr.write(r.stderr[-2000:] if r.returncode else ''); "
        "print(d, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)"
    )
    out = subprocess.run([sys.executable, "-c", launcher, *command], cwd=cwd, capture_output=True, text=True)
    seconds, rss, code = out.stdout.split()
    if code != "0":
        raise RuntimeError(f"{' '.join(command)} failed ({code}): {out.stderr}")
    return float(seconds), int(rss)


def alternate(rounds: int, **candidates) -> dict[str, list]:
    """Run each candidate once per round, in turn (A B A B …); return the measurements per candidate."""
    results: dict[str, list] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            results[name].append(run())
    return results


def median(values) -> float:
    return statistics.median(values)


def machine() -> str:
    import lxml.etree
    import scrapy
    import sqlite_utils

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}); "
        f"Python {platform.python_version()}, Scrapy {scrapy.__version__}, lxml {lxml.etree.__version__}, "
        f"nh3 {__import__('nh3').__version__}, sqlite-utils {getattr(sqlite_utils, '__version__', '')}, "
        f"SQLite {__import__('sqlite3').sqlite_version}"
    )
