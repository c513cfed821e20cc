"""How quickly the lab's commands that measure nothing answer: `bench list` and `bench --help`.

    .venv/bin/python -m benchmarks.startup [--runs 15]

Each command runs as a whole process, in turn (list, help, list, help, ...), after one warm-up
run of each; the table gives the median and the [min-max] wall time with the load average
before and after. The goal (issue: scenarios as units): well under 0.5 s, which holds only
while the CLI imports no measuring or rendering code (tests/unit/test_scenarios.py checks the
imports; this measures the time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from tabulate import tabulate

from bench.stacks.catalog import ROOT

COMMANDS = {"bench list": ["list"], "bench --help": ["--help"]}
GOAL_S = 0.5


def time_once(args: Sequence[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="counted runs of each command")
    runs = parser.parse_args(argv).runs
    before = os.getloadavg()
    for args in COMMANDS.values():
        time_once(args)  # warm the file cache
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, args in COMMANDS.items():
            times[name].append(time_once(args))
    rows = [[name, f"{statistics.median(t):.3f}", f"{min(t):.3f}-{max(t):.3f}", "yes" if statistics.median(t) < GOAL_S
             else "no"] for name, t in times.items()]  # fmt: skip
    print(f"{datetime.now(UTC).isoformat(timespec='seconds')}, {runs} runs each, interleaved; load average "
          f"{before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")  # fmt: skip
    print(tabulate(rows, headers=["command", "median s", "min-max s", f"< {GOAL_S:g} s?"], tablefmt="github",
                   disable_numparse=True))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
