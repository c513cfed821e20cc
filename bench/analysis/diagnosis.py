"""Say why: a measurement's signals, and the rules (bench/analysis/rules.toml) that turn them into a
"limited by" verdict with its evidence and a tip, and the risks listed beside it.

A rule is a *limit* (evidence that the stack or the client was harmed in the window: work
refused, connects failed, every CPU busy) or a *risk* (a level that may become one: ports
filling up, one overflow of a listen queue). The headline is the first limit that fired; a
risk never becomes the headline, however high its level.

Signals come from what the measurement already holds: the figures (locust's side, its TCP
counters included), the stack's CPU and memory, the server side's TCP counters and listen
backlog read from the stack's network namespace, and the containers' memory state under
compose. A signal that could not be read is absent, and a rule that needs it does not fire
(the summary says which were not measured, and why).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.errors import ConfigError
from bench.results import Finding, Measurement

RULES_FILE = Path(__file__).with_name("rules.toml")
_CONDITION = re.compile(r"^\s*([a-z_.]+)\s*(>=|<=|==|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_OPS = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__, "==": float.__eq__}


KINDS = ("limit", "risk")
Condition = tuple[str, str, float]  # (signal, operator, number)


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # limit | risk
    headline: str
    when: tuple[tuple[Condition, ...], ...]  # alternatives: the rule fires when every condition of one holds
    evidence: tuple[str, ...]
    tip: str

    def fires(self, signals: Mapping[str, float]) -> bool:
        return any(all(name in signals and _OPS[op](float(signals[name]), value) for name, op, value in conditions)
                   for conditions in self.when)  # fmt: skip


def load_rules(path: Path = RULES_FILE) -> list[Rule]:
    """The rules in precedence order; a malformed one is a ConfigError naming it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the diagnosis rules {path}: {exc}") from exc
    rules = []
    for name, raw in data.items():
        kind = raw.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"{path}: rule {name}: kind {kind!r}", tip=f"every rule is one of: {', '.join(KINDS)}")
        alternatives = ([raw["when"]] if "when" in raw else []) + list(raw.get("any", []))
        if not alternatives:
            raise ConfigError(f"{path}: rule {name} has no condition", tip="give it `when` or `any`")
        when = tuple(tuple(_condition(path, name, text) for text in conditions) for conditions in alternatives)
        rules.append(Rule(name, kind, raw["headline"], when, tuple(raw.get("evidence", [])), raw["tip"]))
    return rules


def _condition(path: Path, rule: str, text: str) -> Condition:
    match = _CONDITION.match(text)
    if not match:
        raise ConfigError(f"{path}: rule {rule}: cannot read condition {text!r}", tip="SIGNAL OP NUMBER")
    return match.group(1), match.group(2), float(match.group(3))


def signals(m: Measurement, stack_cpus: int | None) -> dict[str, float]:
    """Every signal this measurement has, by the names rules.toml uses."""
    found: dict[str, float] = {}
    f, usage = m.figures, m.usage
    if f is not None and f.requests:
        found["requests"] = f.requests
        fives = sum(n for code, n in f.status_codes.items() if code.startswith("5"))
        found["breaker.refused_pct"] = round(100 * f.overloaded / f.requests, 2)
        found["app.error_pct"] = round(100 * (fives - f.overloaded) / f.requests, 2)
        found["app.failure_pct"] = round(100 * f.failures / f.requests, 2)
        # no answer at all (refused, reset, timed out: locust's status 0), % of requests
        found["client.error_pct"] = round(100 * f.status_codes.get("0", 0) / f.requests, 2)
        found["generator.bound"] = float(f.generator_bound)
        found["generator.warnings"] = float(f.generator_cpu_warnings)
        if f.generator_cpu_percent is not None:
            found["generator.cpu_pct"] = f.generator_cpu_percent
        found |= {f"client.{k}": v for k, v in f.client_tcp.items()}
        if f.ports_in_use is not None and f.port_range:
            found["client.ports_pct"] = round(100 * f.ports_in_use / f.port_range, 1)
    if usage is not None and usage.samples and stack_cpus:
        found["stack.cpu_pct"] = round(usage.cpu_percent / stack_cpus, 1)
        if usage.busiest_process_percent is not None:  # one GIL-bound process caps at one core
            found["stack.busiest_pct"] = usage.busiest_process_percent
        if usage.cpus_busy_percent is not None:  # in all, and what the stack's own processes do not explain
            found["cpus.busy_pct"] = usage.cpus_busy_percent
            found["cpus.other_pct"] = round(max(usage.cpus_busy_percent - found["stack.cpu_pct"], 0.0), 1)
    found |= {f"server.{k}": v for k, v in m.signals.server_tcp.items()}
    if m.signals.server_tcp.get("passive_opens"):
        found["server.listen_overflow_pct"] = round(
            100 * m.signals.server_tcp.get("listen_overflows", 0) / m.signals.server_tcp["passive_opens"], 3)
    if m.time_wait is not None:
        found["server.time_wait"] = m.time_wait
    found |= {f"memory.{k}": v for k, v in m.signals.memory.items()}
    return found


def diagnose(m: Measurement, stack_cpus: int | None, rules: list[Rule] | None = None) -> list[Finding]:
    """Every rule that fires, limits and risks alike, in precedence order; [] is "none found"."""
    found = signals(m, stack_cpus)
    fired = [r for r in (rules if rules is not None else load_rules()) if r.fires(found)]
    return [Finding(r.name, r.headline, {e: found[e] for e in r.evidence if e in found}, r.tip, r.kind)
            for r in fired]  # fmt: skip


def judge(m: Measurement, stack_cpus: int | None, rules: list[Rule] | None = None) -> tuple[list[Finding],
                                                                                             list[Finding]]:
    """(limits, risks) that fired, each in precedence order: the first limit is the headline."""
    fired = diagnose(m, stack_cpus, rules)
    return [v for v in fired if v.kind == "limit"], [v for v in fired if v.kind == "risk"]
