"""What each layer costs: pairs of rows that differ by one layer or one setting (stacks/layers.toml).

For every row of the chosen pairs, `--repeat` rounds, rows interleaved within each round, about
one bring-up per row and round:
1. saturation: closed loop at `-u` users, flat out: throughput, CPU per request, memory;
2. fixed rate: each pair's rows at one open-model rate both sustain, half the slower row's
   capacity (measured by round 1's saturation): latency there is the layer's own cost, not
   queueing (at saturation added latency only restates throughput).
Round 1 measures saturation first for every row: the second row of a pair loads the pair's rate
in the same bring-up (both capacities are known by then), the first comes up once more at the
end of the round for it; later rounds measure both in one bring-up. A row in several pairs at
the same rate is loaded once per round.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench import options as opt
from bench.analysis.summary import ok_rps
from bench.console import progress
from bench.errors import ConfigError, StackFailed
from bench.options import Flags, Option
from bench.results import LoadShape, Measurement, Role, folder_of
from bench.scenarios.base import USER_CLASS, Scenario, ScenarioConfig, plan_progress, shown, stacks_of
from bench.stacks import catalog
from bench.stacks.variants import Variant, variants

if TYPE_CHECKING:
    from bench.session import Session

PAIRS_FILE = catalog.STACKS_DIR / "layers.toml"
RATE_SHARE = 0.5  # the fixed rate: this share of the slower row's capacity


@dataclass(frozen=True)
class Pair:
    """Two rows that differ by one layer or one setting."""

    name: str
    what: str
    base: str  # a row label: stack or stack@param=value,...
    other: str


def load_pairs(path: Path = PAIRS_FILE) -> dict[str, Pair]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the pairs {path}: {exc}") from exc
    found = {}
    for name, table in data.items():
        if not isinstance(table, dict) or not {"what", "base", "other"} <= set(table):
            raise ConfigError(f"{path}: [{name}] needs what, base and other")
        found[name] = Pair(name, str(table["what"]), str(table["base"]), str(table["other"]))
    return found


@dataclass(frozen=True)
class LayersConfig(ScenarioConfig):
    pairs: tuple[Pair, ...]
    rows: tuple[Variant, ...] = field(metadata=shown("labels"))  # every row of the pairs, once, in pair order
    users: int = 32
    duration_s: float = 3.0
    warmup_s: float = 0.5
    repeat: int = 3
    max_in_flight: int = 10_000
    recorded: ClassVar[Mapping[str, Any]] = {"rate_share": RATE_SHARE, "user_class": USER_CLASS}

    def saturation(self) -> LoadShape:
        return LoadShape(self.users, self.users, self.duration_s, self.warmup_s)

    def fixed(self, rate: float) -> LoadShape:
        return LoadShape.open(rate, self.duration_s, self.warmup_s, max_in_flight=self.max_in_flight)


_PAIRED = "the pairs set every row's parameters (stacks/layers.toml)"


class Layers(Scenario[LayersConfig]):
    name = "layers"
    command = "layers"
    help = "what each layer costs: pairs differing by one layer, at saturation and at a fixed rate both sustain"
    positional: ClassVar[Option[Any] | None] = Option("names", (), "pairs to measure (not given: all of "
                                                      "stacks/layers.toml)", nargs="*", metavar="PAIR")  # fmt: skip
    options = (opt.USERS.defaulting("32"), opt.DURATION.defaulting("3s"), opt.WARMUP.defaulting("0.5s"), opt.REPEAT,
               *opt.PLACEMENT, opt.MAX_IN_FLIGHT, opt.RESULTS)  # fmt: skip
    refused: ClassVar[Mapping[str, str]] = {
        "preset": "layers has its own load: -u users at saturation, half the slower row's capacity at the fixed rate",
        "spawn_rate": "every user starts at once", "breaker": _PAIRED, "set": _PAIRED,
        "processes": "one locust process: the rows are compared with each other, not with the generator's ceiling",
        "no_floor": "layers measures no floor",
        "rate": "layers sets each pair's rate itself: half the slower row's closed-loop peak",
    }  # fmt: skip

    def configure(self, flags: Flags) -> LayersConfig:
        known = load_pairs()
        names = list(flags.names) or list(known)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"pair {unknown[0]!r} not found", tip=f"known pairs: {', '.join(known)}")
        pairs = tuple(known[n] for n in names)
        labels = list(dict.fromkeys(label for p in pairs for label in (p.base, p.other)))
        rows = variants(list(zip(catalog.select([n.partition("@")[0] for n in labels]), labels, strict=True)))
        return LayersConfig(
            stacks=stacks_of(rows),
            placement=flags.placement,
            pairs=pairs,
            rows=tuple(rows),
            users=flags.of(opt.USERS),
            duration_s=flags.of(opt.DURATION),
            warmup_s=flags.of(opt.WARMUP),
            repeat=flags.of(opt.REPEAT),
            max_in_flight=flags.of(opt.MAX_IN_FLIGHT),
        )

    def run(self, session: Session, config: LayersConfig) -> None:
        started, total = time.monotonic(), len(config.rows) * (config.repeat + 1)
        done = 0
        capacity: dict[str, float] = {}
        taken: dict[str, set[float]] = {row.label: set() for row in config.rows}  # round 1's fixed rates so far

        def known_now(row: Variant) -> Callable[[Measurement], list[float]]:
            def rates(m: Measurement) -> list[float]:  # after the row's saturation: pairs whose both rows are known
                capacity[row.label] = ok_rps(m.figures) if m.ok and m.figures else 0.0  # successful answers only
                found = {r for p, r in fixed_rates(config.pairs, capacity, quiet=True).items() if _in(p, row, config)}
                taken[row.label] |= found
                return sorted(found)

            return rates

        for row in config.rows:  # round 1: saturation first, it sets the fixed rates; a pair's second row
            progress(plan_progress(done, total, started, config.duration_s * 2 + 4))  # loads its rate at once
            measure_row(session, config, row, 1, [], saturation=True, then=known_now(row))
            done += 1
        rates = fixed_rates(config.pairs, capacity)
        session.run.settings["pairs"] = [p | {"rate": rates.get(p["name"])} for p in session.run.settings["pairs"]]
        session.save()
        for repeat in range(1, config.repeat + 1):
            for row in config.rows if repeat % 2 else reversed(config.rows):  # every other round backwards
                mine = sorted({r for p, r in rates.items() if _in(p, row, config)} - (taken[row.label] if repeat == 1
                                                                                       else set()))  # fmt: skip
                if repeat == 1 and not mine:
                    total -= 1
                    continue
                progress(plan_progress(done, total, started, config.duration_s * 2 + 4))
                measure_row(session, config, row, repeat, mine, saturation=repeat > 1)
                done += 1


def fixed_rates(pairs: tuple[Pair, ...], capacity: Mapping[str, float], quiet: bool = False) -> dict[str, float]:
    """pair name -> RATE_SHARE of the slower row's capacity (pairs whose capacity is unknown get none)."""
    found = {}
    for p in pairs:
        slower = min(capacity.get(p.base, 0.0), capacity.get(p.other, 0.0))
        if slower > 0:
            found[p.name] = round(RATE_SHARE * slower, 1)
        elif not quiet:
            progress(f"WARNING: pair {p.name}: no capacity measured for both rows, so no fixed rate")
    return found


def _in(pair_name: str, row: Variant, config: LayersConfig) -> bool:
    pair = next(p for p in config.pairs if p.name == pair_name)
    return row.label in (pair.base, pair.other)


def measure_row(session: Session, config: LayersConfig, row: Variant, repeat: int, rates: list[float],
                saturation: bool, then: Callable[[Measurement], list[float]] | None = None) -> None:  # fmt: skip
    """One bring-up of a row: saturation (if asked) and each fixed rate it is loaded at, recorded as taken;
    `then(saturation)`: more fixed rates to load in the same bring-up, known once its saturation is."""
    loads: list[tuple[Role, LoadShape]] = [("saturation", config.saturation())] if saturation else []
    loads += [("fixed_rate", config.fixed(rate)) for rate in rates]
    folder = f"{folder_of(row.label)}-r{repeat}" + ("" if saturation or repeat > 1 else "-fixed")
    progress(f"[{row.label} #{repeat}] starting")
    pending = [session.new(row.stack, role, load, label=row.label, repeat=repeat, params=row.params, folder=folder)
               for role, load in loads]  # fmt: skip
    try:
        with session.up(row.stack, row.params, folder) as running:
            while pending:
                m = pending[0]
                assert m.load is not None
                session.load(running, m, session.run_dir / folder / f"{m.role}-{m.load.rate or m.load.users:g}")
                session.record(m)  # an interrupted load is recorded, then ends the run
                pending.pop(0)
                if m.role == "saturation" and then is not None:
                    pending += [session.new(row.stack, "fixed_rate", config.fixed(rate), label=row.label, repeat=repeat,
                                            params=row.params, folder=folder) for rate in then(m)]  # fmt: skip
    except StackFailed as exc:  # the row could not start, or died: its loads not taken are recorded as failed
        for m in pending:
            m.error, m.log_tail = str(exc), exc.log_tail
            session.record(m)
    except KeyboardInterrupt:
        if pending and not any(m is pending[0] for m in session.run.measurements):
            first = pending[0]  # under way or about to start: kept, marked
            first.status, first.error = "interrupted", first.error or "interrupted before its load finished"
            session.run.measurements.append(first)
            session.save()
        raise
