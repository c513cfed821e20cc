"""The headline table's "limited by" cell on synthetic runs whose truth is known: each repeat judged by the real
rules (bench/analysis/rules.toml) from hand-set signals, the cell the limit most repeats named, never a risk."""

from __future__ import annotations

from dataclasses import replace

from bench.analysis.diagnosis import judge
from bench.analysis.summary import summarize
from bench.report.measure import main_table
from bench.results import Measurement
from tests.factories import failed, measured, run_of
from tests.integration.conftest import table_rows


def _judged(label: str, repeat: int, stack_cpu: float, ports: tuple[int, int] | None = None,
            generator: float = 50.0) -> Measurement:  # fmt: skip
    """One repeat on one CPU: its stack CPU %, the local ports held (of the range), locust's own CPU %."""
    m = measured(label, repeat, cpu_percent=stack_cpu)
    assert m.figures is not None
    m = replace(m, figures=replace(m.figures, ports_in_use=ports[0] if ports else None,
                                   port_range=ports[1] if ports else None, generator_cpu_percent=generator,
                                   generator_bound=generator >= 90))  # fmt: skip
    m.limited_by, m.risks = judge(m, 1)
    return m


def test_the_cell_is_the_limit_most_repeats_named_and_never_a_risk() -> None:
    flask = [_judged("flask", r, 97.0, ports=(23_460, 28_232)) for r in (1, 2, 3)]  # 83 % of the ports, no failure
    assert [([v.rule for v in m.limited_by or []], [v.rule for v in m.risks]) for m in flask] == [
        (["cpu"], ["ports_filling"])] * 3  # fmt: skip
    mixed = [_judged("mixed", 1, 97.0), _judged("mixed", 2, 40.0), _judged("mixed", 3, 50.0)]  # cpu, none, none
    paced = [_judged("paced", 1, 40.0, generator=95.0)]  # locust's core full, the stack's not
    lost = [_judged("lost", 1, 97.0), failed("lost", 2), _judged("lost", 3, 96.0)]
    run = run_of(*flask, *mixed, *paced, *lost)
    table = main_table(run, summarize(run).of("stack"))
    cells = {label: table_rows(table, f"`{label}`")[0][1] for label in ("flask", "mixed", "paced", "lost")}
    assert cells == {"flask": "cpu", "mixed": "none", "paced": "generator; **generator-bound**",
                     "lost": "cpu; 2 of 3 repeats ok"}  # fmt: skip
