"""Charts of one run as PNG files. Reads a RunResult only; runs nothing.

latency.png     every percentile per label (median of the repeats, min-max whiskers)
throughput.png  requests per second over the measured window, one line per repeat
resources.png   stack CPU % (of one core) and peak RSS per label
sweep.png       a sweep's throughput and p99 against the load, knee (and with --slo the sustainable load) marked
capacity.png    a capacity search's p99 from due against the offered rate per stack, the SLO's p99 and each capacity

A scenario's report module chooses which labels each chart shows (bench/analysis/summary.py's
`LabelSummary`s); only their ok repeats are drawn, bars at the summary's own median [min-max].
Pyplot is never imported: figures are plain
`matplotlib.figure.Figure` objects rendered by Agg, so nothing needs a display and no
global backend state is touched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator
from matplotlib.typing import RcKeyType

from bench.analysis.summary import LabelSummary, Spread, ok_due_latency, ok_latency, ok_rps
from bench.load.record import Latency
from bench.results import Measurement, RunResult

LATENCY = "latency.png"
THROUGHPUT = "throughput.png"
RESOURCES = "resources.png"
SWEEP = "sweep.png"
CAPACITY = "capacity.png"
TITLES = {
    LATENCY: "Latency percentiles",
    THROUGHPUT: "Requests per second over the run",
    RESOURCES: "CPU and memory per stack",
    SWEEP: "Throughput and p99 against load, knee marked",
    CAPACITY: "p99 from due against the offered rate, the SLO and each capacity marked",
}

# successful answers only, as the tables and verdicts beside the chart (bench/analysis/summary.py's `ok_latency.*`)
PERCENTILES = [(name.removesuffix("_ms").replace("_", "."), f"ok_latency.{name}")
               for name in Latency.percentile_fields()]  # fmt: skip
_PERCENTILE_COLOURS = ["#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b"]  # light -> dark
_STACK_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_LOG_RATIO = 30.0  # above this max/min spread a linear axis squashes the small bars into nothing
_DPI = 100
_STYLE: dict[RcKeyType, Any] = {
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
    "axes.axisbelow": True,
}


def write_charts(run: RunResult, out_dir: Path, labels: dict[str, LabelSummary]) -> list[Path]:
    """latency.png, throughput.png and resources.png of `labels` (their ok repeats).

    A chart with nothing to show is not written, so a run where every stack failed returns [].
    """
    groups = {label: s for label, s in labels.items() if s.ok}
    if not groups:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(_STYLE):
        for name, draw in ((LATENCY, _latency), (THROUGHPUT, _throughput), (RESOURCES, _resources)):
            fig = draw(groups)
            if fig is None:
                continue
            caption = _caption(run, labels, lines=name == THROUGHPUT)
            fig.text(0.01, 0.01, caption, fontsize=7, color="#555555", ha="left", va="bottom")
            _save_atomic(fig, out_dir / name)
            written.append(out_dir / name)
    return written


def sweep_chart(run: RunResult, out_dir: Path) -> list[Path]:
    """One panel per swept stack: req/s (left axis) and p99 (right axis) against the offered load."""
    steps = [m for m in run.rows("step") if m.ok and m.step and m.step.load and m.figures]
    names = list(dict.fromkeys(m.label for m in steps))
    if not names:
        return []
    unit = steps[0].step.unit if steps[0].step else "users"
    out_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(_STYLE):
        fig = _figure(4.2 * len(names), 3.8)
        for n, name in enumerate(names):
            mine = sorted((m for m in steps if m.label == name), key=_step_load)
            ax = fig.add_subplot(1, len(names), n + 1)
            loads = [_step_load(m) for m in mine]
            ax.plot(loads, [_rps(m) for m in mine], "o-", color=_colour(n), label="req/s")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("locust users" if unit == "users" else "offered req/s")
            ax.set_ylabel("requests per second")
            ax.set_ylim(bottom=0)
            ax.set_title(name)
            right = ax.twinx()
            right.plot(loads, [ok_latency(m.figures).p99_ms or 0 if m.figures else 0 for m in mine], "s--",
                       color="#555555", label="p99 ms")  # fmt: skip
            right.set_ylabel("p99 ms")
            right.set_ylim(bottom=0)
            for knee in (m for m in mine if m.step and m.step.knee):
                ax.axvline(_step_load(knee), color="#2ca02c", linewidth=1.5)
                at = (_step_load(knee), _rps(knee))
                ax.annotate(f"knee: {at[0]:g} {unit}\n{at[1]:.0f} req/s", at, fontsize=8, xytext=(4, -28),
                            textcoords="offset points")  # fmt: skip
            for best in (m for m in mine if m.step and m.step.sustainable):  # --slo: the highest load that met it
                ax.axvline(_step_load(best), color="#ff7f0e", linewidth=1.5, linestyle=":")
                ax.annotate(f"SLO met up to\n{_step_load(best):g} {unit}", (_step_load(best), _rps(best)),
                            fontsize=8, xytext=(-4, -56), textcoords="offset points", color="#ff7f0e",
                            ha="right")  # left of its line: the p99 axis is on the right  # fmt: skip
        fig.text(0.01, 0.01, f"run {run.run_id}, backend {run.backend}", fontsize=7, color="#555555")
        _save_atomic(fig, out_dir / SWEEP)
    return [out_dir / SWEEP]


def capacity_chart(run: RunResult, out_dir: Path, capacities: dict[str, float | None],
                   p99_bound_ms: float | None) -> list[Path]:  # fmt: skip
    """Every measured step of a capacity search: p99 timed from due (ms, log axis: an overloaded step's queue
    grows without bound) against the offered rate, one colour per stack and one line per search; the SLO's p99
    bound as a horizontal line; each stack's capacity (`capacities`: label -> req/s, None: none) as a vertical
    dashed line in its colour."""
    steps = [m for m in run.rows("step") if m.ok and m.step and m.step.load and m.figures]
    names = list(dict.fromkeys(m.label for m in steps))
    if not names:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(_STYLE):
        fig = _figure(7.5, 4.5)
        ax = fig.add_subplot(1, 1, 1)
        for n, name in enumerate(names):
            for r, repeat in enumerate(sorted({m.repeat for m in steps if m.label == name})):
                mine = sorted((m for m in steps if m.label == name and m.repeat == repeat), key=_step_load)
                ax.plot([_step_load(m) for m in mine], [_due_p99(m) for m in mine], "o-", color=_colour(n),
                        alpha=1.0 if r == 0 else 0.5, markersize=4, label=name if r == 0 else None)  # fmt: skip
            capacity = capacities.get(name)
            if capacity:
                ax.axvline(capacity, color=_colour(n), linestyle="--", linewidth=1.2)
                ax.annotate(f"{capacity:.0f} req/s", (capacity, 1), xycoords=("data", "axes fraction"), fontsize=8,
                            color=_colour(n), rotation=90, ha="right", va="top", xytext=(-2, -2),
                            textcoords="offset points")  # fmt: skip
        if p99_bound_ms:
            ax.axhline(p99_bound_ms, color="#d62728", linewidth=1.2)
            ax.annotate(f"SLO p99 < {p99_bound_ms:g} ms", (0, p99_bound_ms), xycoords=("axes fraction", "data"),
                        fontsize=8, color="#d62728", xytext=(4, 3), textcoords="offset points")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_xlabel("offered req/s")
        ax.set_ylabel("p99 ms from due (successful answers)")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, 0.92))
        fig.text(0.01, 0.01, f"run {run.run_id}, backend {run.backend}", fontsize=7, color="#555555")
        _save_atomic(fig, out_dir / CAPACITY)
    return [out_dir / CAPACITY]


def _due_p99(m: Measurement) -> float:
    """The p99 the SLO judged: successful answers timed from due (from send without a schedule); NaN: none."""
    due = (ok_due_latency(m.figures) or ok_latency(m.figures)).p99_ms if m.figures else None
    return float("nan") if due is None else due


def _step_load(m: Measurement) -> float:
    return m.step.load if m.step else 0.0


def _rps(m: Measurement) -> float:
    """Successful answers per second, as the sweep's knee was judged on."""
    return ok_rps(m.figures) if m.figures else 0.0


def _latency(groups: dict[str, LabelSummary]) -> Figure | None:
    """Grouped bars: one group per stack, one bar per percentile."""
    cells = {name: [s.spread(key) for _, key in PERCENTILES] for name, s in groups.items()}
    if all(c is None for row in cells.values() for c in row):
        return None
    fig = _figure(max(5.0, 1.9 * len(cells) + 2.5), 5.0)
    ax = fig.add_subplot()
    width = 0.8 / len(PERCENTILES)
    for i, (label, _) in enumerate(PERCENTILES):
        x = [n + (i - (len(PERCENTILES) - 1) / 2) * width for n in range(len(cells))]
        _bars(ax, x, [row[i] for row in cells.values()], width, _PERCENTILE_COLOURS[i], label)
    log = _use_log(ax, [c for row in cells.values() for c in row if c is not None])
    ax.set_title("Latency percentiles (ms, lower is better)")
    ax.set_ylabel("response time, ms" + (" (log scale)" if log else ""))
    _stack_ticks(ax, list(cells))
    ax.legend(title="percentile", loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title_fontsize=8)
    ax.margins(y=0.1)
    return fig


def _throughput(groups: dict[str, LabelSummary]) -> Figure | None:
    """One line per repeat, coloured by stack, over the whole seconds of the measured window."""
    series = {name: [whole_seconds(r) for r in s.ok] for name, s in groups.items()}
    if not any(points for lines in series.values() for points in lines):
        return None
    fig = _figure(9.0, 5.0)
    ax = fig.add_subplot()
    for n, (name, lines) in enumerate(series.items()):
        width = 1.8 if len(lines) == 1 else 1.1
        for k, points in enumerate(p for p in lines if p):
            xs, ys = zip(*points, strict=True)
            marker = "o" if len(points) <= 20 else ""  # a short run is a few points; show where they are
            ax.plot(
                xs,
                ys,
                color=_colour(n),
                linewidth=width,
                alpha=0.85,
                marker=marker,
                markersize=3,
                label=name if k == 0 else None,
            )
    ax.set_title("Requests per second over the run (higher is better)")
    ax.set_xlabel("seconds into the measured window (warmup excluded)")
    ax.set_ylabel("requests per second")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="stack (one line per repeat)", fontsize=8, title_fontsize=8, loc="lower right")
    return fig


def _resources(groups: dict[str, LabelSummary]) -> Figure | None:
    """Two panels of bars: stack CPU % and peak RSS, medians with min-max whiskers."""
    cpu = [s.spread("usage.cpu_percent") for s in groups.values()]
    rss = [s.spread("usage.peak_rss_mb") for s in groups.values()]
    if all(c is None for c in cpu + rss):
        return None
    fig = _figure(max(7.0, 2.2 * len(groups) + 2), 4.8)
    left, right = fig.subplots(1, 2)
    colours = [_colour(n) for n in range(len(groups))]
    panels = (
        (left, cpu, "CPU (% of one core)", "CPU % (all the stack's processes)", "{:.0f}%"),
        (right, rss, "Peak memory (RSS, MB)", "MB", "{:.0f}"),
    )
    for ax, cells, title, unit, fmt in panels:
        _bars(ax, list(range(len(groups))), cells, 0.6, colours, None, fmt)
        ax.set_title(title)
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.margins(y=0.15)
        _stack_ticks(ax, list(groups))
    fig.suptitle("CPU and memory of each stack under load", fontweight="bold")
    return fig


def _bars(
    ax: Axes,
    x: list[float] | list[int],
    cells: list[Spread | None],
    width: float,
    colour: str | list[str],
    label: str | None,
    fmt: str | None = None,
) -> None:
    """Bars at the medians with min-max whiskers (only when repeats differ) and the value on top."""
    mids = [c.mid if c else float("nan") for c in cells]
    errors = [[c.mid - c.low if c else 0.0 for c in cells], [c.high - c.mid if c else 0.0 for c in cells]]
    whiskers = any(c is not None and c.high > c.low for c in cells)
    ax.bar(
        x,
        mids,
        width,
        color=colour,
        label=label,
        yerr=errors if whiskers else None,
        capsize=2,
        error_kw={"elinewidth": 0.8, "ecolor": "#333333"},
    )
    for xi, c in zip(x, cells, strict=True):
        if c is not None:
            text = fmt.format(c.mid) if fmt else _ms(c.mid)
            ax.annotate(
                text, (xi, c.high), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7
            )


def _use_log(ax: Axes, cells: list[Spread]) -> bool:
    """Switch to a log y axis when the values span more than _LOG_RATIO; plain numbers on the ticks."""
    positive = [v for c in cells for v in (c.low, c.high) if v > 0]
    if not positive or max(positive) / min(positive) <= _LOG_RATIO:
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
        return False
    ax.set_yscale("log")
    ax.set_ylim(bottom=min(positive) / 2)
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.grid(axis="y", which="major", alpha=0.3)
    return True


def whole_seconds(m: Measurement) -> list[tuple[int, int]]:
    """(second, requests) for every full second; the last, partial second would look like a drop."""
    if m.figures is None:
        return []
    rows = [(int(row[0]), int(row[1])) for row in m.figures.per_second if len(row) >= 2]
    if m.figures.measured_s > 0:
        rows = [(s, n) for s, n in rows if s + 1 <= m.figures.measured_s + 0.05]
    return rows


def _stack_ticks(ax: Axes, names: list[str]) -> None:
    """Stack names under their bars, tilted when they would collide."""
    crowded = sum(len(n) for n in names) > 60 * ax.get_position().width
    ax.set_xticks(range(len(names)), names, rotation=20 if crowded else 0, ha="right" if crowded else "center")


def _caption(run: RunResult, labels: dict[str, LabelSummary], lines: bool) -> str:
    """Where the figures come from, how repeats are summarised and which stacks are missing."""
    repeats = max(len(s.ok) for s in labels.values())
    parts = [f"run {run.run_id}", f"backend {run.backend or '-'}"]
    if repeats > 1:
        parts.append("one line per repeat" if lines else f"bars: median of up to {repeats} repeats, whiskers: min-max")
    left_out = [name for name, s in labels.items() if not s.ok]
    if left_out:
        parts.append("left out (no ok result): " + ", ".join(left_out))
    return "  ·  ".join(parts)


def _figure(width: float, height: float) -> Figure:
    """A figure laid out by matplotlib, leaving the bottom strip free for the caption."""
    return Figure(figsize=(width, height), dpi=_DPI, layout=ConstrainedLayoutEngine(rect=(0, 0.04, 1, 0.96)))


def _colour(n: int) -> str:
    return _STACK_COLOURS[n % len(_STACK_COLOURS)]


def _ms(value: float) -> str:
    """A latency short enough to sit above a bar."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _save_atomic(fig: Figure, path: Path) -> None:
    """Render to a temp file in the same folder, then os.replace, so a reader never sees half a PNG."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as out:
            fig.savefig(out, format="png", dpi=_DPI)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
