"""Each measurement's latency as a standard HdrHistogram log, converted from the lab's own buckets after the run.

The locust processes stream their tallies (bench/load/record.py) into window files beside locust's own output
(`<measurement folder>/<load folder>/samples-<host>-<pid>-w<N>.json`); nothing is added at the source, where the
generator is already the bottleneck. After the run each load folder's windows are folded per window index (every
process's share of a minute together) and written beside it as `<load folder>.latency.hlog` (`load.latency.hlog` in
`./lab all`), one interval histogram per window, so HdrHistogram's own tools (HistogramLogProcessor,
HistogramLogAnalyzer, the plotter) read them and can set them beside wrk2's or vegeta's.

Values are in microseconds: every lab bucket stands for a whole number of them (10 us steps below 100 ms). The
intervals without a tag hold every answer timed from its send (run.json `figures.latency`, the count is
`figures.requests`); `Tag=ok` the successful answers (`figures.ok_latency`); under the open model `Tag=due` every
slot due in the window timed from when it was due, answered or not (`figures.corrected`: wrk2's correction of
coordinated omission) and `Tag=ok-due` the successful answers so timed (`figures.ok_corrected`).

Resolution: a value is its lab bucket's (10 us wide below 100 ms, 100 us to 1 s, 1 ms above), so a true sample is
within half a bucket of it. The HdrHistogram keeps 5 significant digits: values it cannot tell apart are at most
1/131072 of the value apart (1 us below 262 ms, 8 us at 1 s), finer than the lab's buckets below 134 s, so the
lab's buckets limit the precision and a percentile read from the log is the lab's own value (+ at most the HDR
equivalent range, under a microsecond below 262 ms) when both take the same rank.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]
from hdrh.log import HistogramLogWriter  # type: ignore[import-untyped]

from bench.load.record import ProcessReport, Tally, bucket_value
from bench.results import Measurement, RunResult, write_text_atomic

HLOG = ".latency.hlog"  # after the load folder's name, beside it: load.latency.hlog, rps-200.latency.hlog
SAMPLES = "samples-*.json"  # each locust process's window files (-w<N>) and its report (bench/load/runner.py)
DIGITS = 5  # HdrHistogram's significant digits: finer than the lab's buckets below 134 s (module docstring)
HOUR_US = 3_600_000_000  # the highest value every log can hold, so logs of different runs add up
# tag -> the Tally histogram it is read from; None: the untagged intervals (every answer timed from its send)
TAGS: dict[str | None, tuple[str, ...]] = {
    None: ("ok_hist", "failed_hist"),
    "ok": ("ok_hist",),
    "due": ("corrected_hist",),
    "ok-due": ("ok_corrected_hist",),
}


def micros(index: int) -> int:
    """The microseconds a lab bucket stands for (a whole number: the finest bucket is 10 us wide)."""
    return round(bucket_value(index) * 1000)


@dataclass
class LoadFolder:
    """One load's window files, folded per window index over its locust processes."""

    path: Path
    windows: dict[int, Tally] = field(default_factory=dict)
    measured_from: float | None = None  # as Figures.of computes it: the earliest process's start

    @property
    def requests(self) -> int:
        return sum(w.requests for w in self.windows.values())

    @classmethod
    def read(cls, path: Path) -> LoadFolder:
        found = cls(path)
        starts = []
        for file in sorted(path.glob(SAMPLES)):
            data = _json(file)
            if data is None:
                continue
            if file.stem.rsplit("-", 1)[-1].startswith("w"):
                tally = Tally.from_json(data)
                found.windows.setdefault(tally.window or 0, Tally(window=tally.window)).merge(tally)
            elif (start := ProcessReport.from_json(data).measured_from) is not None:
                starts.append(start)
        found.measured_from = min(starts, default=None)
        return found


def _json(file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a process killed while writing: its temp file never replaced the real one
    return data if isinstance(data, dict) else None


def load_folders(run_dir: Path) -> list[LoadFolder]:
    """Every folder of the run holding window files, read."""
    folders = sorted({file.parent for file in run_dir.rglob(SAMPLES)})
    return [found for path in folders if (found := LoadFolder.read(path)).windows]


def match(m: Measurement, run_dir: Path, folders: list[LoadFolder]) -> LoadFolder | None:
    """The load folder a measurement's figures came from: under its folder, the same measured window and count
    (a sweep's or a gateway's loads share one measurement folder); the only one there for files without a
    measured window."""
    if m.figures is None or not m.figures.requests:
        return None
    mine = [f for f in folders if f.path.is_relative_to(run_dir / m.folder) and f.requests == m.figures.requests]
    if m.figures.measured_from is not None:
        mine = [f for f in mine if f.measured_from == m.figures.measured_from]
    return mine[0] if len(mine) == 1 else None


def log_path(load: Path) -> Path:
    """Where a load folder's log goes: beside it, in the measurement's folder (the load folder holds what the locust
    processes wrote, as the container user under compose; the runner's files stay out of it)."""
    return load.parent / (load.name + HLOG)


def write_logs(run: RunResult, run_dir: Path) -> list[Path]:
    """Each measurement's log beside its load folder (`<label>[-r<N>]/load.latency.hlog`); the paths written."""
    folders = load_folders(run_dir)
    written = []
    for m in run.measurements:
        found = match(m, run_dir, folders)
        if found is not None:
            write_text_atomic(log_path(found.path), hlog(run, m, found))
            written.append(log_path(found.path))
    return written


def hlog(run: RunResult, m: Measurement, load: LoadFolder) -> str:
    """The HdrHistogram log of one load: a header saying what it holds, one interval per window and tag."""
    windows = [load.windows[i] for i in sorted(load.windows)]
    tags = {tag: names for tag, names in TAGS.items() if any(_hist(w, names) for w in windows)}
    highest = max([HOUR_US, *(micros(max(h)) for w in windows for names in tags.values() if (h := _hist(w, names)))])
    base = windows[0].start or 0.0
    out = io.StringIO()
    writer = HistogramLogWriter(out)
    writer.output_log_format_version()
    # written here: hdrh 0.10.8's output_start_time formats the date with a method datetime does not have. Both times
    # as output_base_time writes them (%f): a start time rounded above the base would put the first interval before
    # the start, and hdrh's reader skips it
    writer.output_comment(f"[StartTime: {base:f} (seconds since epoch), {_iso(base)}]")
    writer.output_base_time(base * 1000)
    for line in header(run, m, load, [t for t in tags if t]):
        writer.output_comment(" " + line)
    writer.output_legend()
    for w in windows:
        start, end = (w.start or base) - base, (w.end or w.start or base) - base
        for tag, names in tags.items():
            histogram = HdrHistogram(1, highest, DIGITS)
            for index, count in sorted(_hist(w, names).items()):
                histogram.record_value(micros(index), count)
            histogram.set_start_time_stamp(start * 1000)
            histogram.set_end_time_stamp(end * 1000)
            out.write("" if tag is None else f"Tag={tag},")
            writer.output_interval_histogram(histogram, start, end, max_value_unit_ratio=1000.0)
    return out.getvalue()


def header(run: RunResult, m: Measurement, load: LoadFolder, tags: list[str]) -> list[str]:
    """The comment lines: which measurement, what the intervals and tags hold, the unit and the resolution."""
    f = m.figures
    assert f is not None
    return [
        f"bench lab run {run.run_id} ({run.scenario}, backend {run.backend}, lab commit "
        f"{run.machine.get('git_commit') or 'unknown'}): label {m.label}, role {m.role}, repeat {m.repeat}",
        f"intervals: one per streamed window of the measured phase ({len(load.windows)}), every locust process's "
        f"share added ({f.processes} processes); {f.requests} requests in all (run.json figures.requests)",
        "values in microseconds (HistogramLogProcessor -outputValueUnitRatio 1000 prints ms); Interval_Max in ms",
        "untagged: every answer timed from its send (figures.latency)"
        + "".join(f"; Tag={t}: {TAG_WORDS[t]}" for t in tags),
        "resolution: each value is its bucket in the lab's histogram (bench/load/record.py: 10 us wide below 100 ms, "
        "100 us to 1 s, 1 ms above), so a true sample lies within half a bucket of it; HdrHistogram keeps "
        f"{DIGITS} significant digits (values at most 1/131072 of the value apart), finer than those buckets "
        "below 134 s: the lab's buckets limit the precision",
    ]


TAG_WORDS = {
    "ok": "the successful answers timed from their send (figures.ok_latency)",
    "due": "every slot due in the window timed from when it was due, answered or not (figures.corrected)",
    "ok-due": "the successful answers timed from when they were due (figures.ok_corrected)",
}


def _hist(w: Tally, names: tuple[str, ...]) -> Counter[int]:
    total: Counter[int] = Counter()
    for name in names:
        total.update(getattr(w, name))
    return +total


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))
