"""The rows a run measures, and the values each row's stack runs with.

A variant is one row: `flask_gunicorn`, a tagged copy `flask_gunicorn@a` (an A/A check), or
`flask_gunicorn@workers=2,worker_class=gthread` (the values it runs with).
`--set workers=1,2,4 --set worker_class=sync,gthread` makes every combination, as
hyperfine's parameter lists do. Every value is checked against the stack's declaration
(bench/stacks/params.py) before anything starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.errors import ConfigError
from bench.stacks.catalog import Stack

# Not stack parameters but how a row is deployed, settable like one (`stack@replicas=2`, `--set replicas=1,2`):
# swarm's tasks of the app service. Every stack takes it; only --backend swarm honours more than 1.
DEPLOYMENT = ("replicas",)


def resolve(stack: Stack, given: Mapping[str, str]) -> dict[str, str]:
    """Every parameter of `stack` with its value: `given` checked against the declaration, defaults else."""
    unknown = sorted(set(given) - set(stack.params))
    if unknown:
        known = ", ".join(stack.params) or "none"
        raise ConfigError(f"stack {stack.name!r} has no parameter {unknown[0]!r}", tip=f"its parameters: {known}")
    return {name: p.check(given[name], stack.name) if name in given else p.default for name, p in stack.params.items()}


def template_context(stack: Stack, given: Mapping[str, str], where: Mapping[str, str]) -> dict[str, str]:
    """`{{param.NAME}}` for every parameter, and the Envoy fields rendered from them: the breaker's where
    the stack has one, the gateway's experiment where it is the gateway (`where`: each port's host and
    number, as the backend placed them)."""
    from bench.gateway import api_gateway, istio

    values = resolve(stack, given)
    context = {f"param.{name}": value for name, value in values.items()}
    if stack.breaker_file:
        context |= istio.template_context(istio.choose(stack.path / stack.breaker_file, values["breaker"]))
    if stack.gateway_file:
        context |= api_gateway.template_context(stack.path / stack.gateway_file, values, where)
    return context


def param_variables(stack: Stack, given: Mapping[str, str]) -> dict[str, str]:
    """The values as compose files read them: BENCH_PARAM_WORKERS=4, ..."""
    return {f"BENCH_PARAM_{name.upper()}": value for name, value in resolve(stack, given).items()}


@dataclass(frozen=True)
class Variant:
    """One row of a run: a stack, the label it is reported under, the parameter values set for it."""

    stack: Stack
    label: str
    params: Mapping[str, str]  # the values set for this row (the rest stay at their defaults)
    replicas: int | None = None  # swarm: this row's app tasks (None: the run's --replicas)


def parse_sets(sets: Sequence[str]) -> list[tuple[str, list[str]]]:
    """`--set workers=1,2,4` (each given once) -> [("workers", ["1", "2", "4"])]."""
    found: list[tuple[str, list[str]]] = []
    for text in sets:
        name, eq, values = text.partition("=")
        listed = [v.strip() for v in values.split(",")]
        if not eq or not name.strip() or not all(listed):
            raise ConfigError(f"--set: cannot read {text!r}", tip="use --set NAME=VALUE[,VALUE...], e.g. workers=1,2,4")
        if any(name.strip() == seen for seen, _ in found):
            raise ConfigError(f"--set: {name.strip()} given twice", tip="list every value in one: --set workers=1,2,4")
        found.append((name.strip(), listed))
    return found


def variants(stacks: Sequence[tuple[Stack, str]], sets: Sequence[str] = ()) -> list[Variant]:
    """(stack, as named) -> the rows to measure: `name`, `name@tag` or `name@k=v,...`, times every
    combination of the `--set` values the stack declares. Every value is checked against the
    stack's declaration; a `--set` name no chosen stack declares is refused."""
    parsed = parse_sets(sets)
    declared = {name for stack, _ in stacks for name in stack.params}
    unknown = [name for name, _ in parsed if name not in declared and name not in DEPLOYMENT]
    if unknown:
        stacks_named = ", ".join(dict.fromkeys(stack.name for stack, _ in stacks))
        raise ConfigError(f"--set: no chosen stack ({stacks_named}) has a parameter {unknown[0]!r}",
                          tip=f"their parameters: {', '.join(sorted(declared)) or 'none'}")  # fmt: skip
    found = []
    for stack, named in stacks:
        base_tag = named.partition("@")[2]
        if "@" in named and not base_tag:
            raise ConfigError(f"{named!r}: nothing after @", tip="label a stack like flask@a or flask@workers=2")
        named_params = _tag_params(base_tag)
        own = [(name, values) for name, values in parsed if name in stack.params or name in DEPLOYMENT]
        for combo in _combinations(own):
            params = named_params | combo
            replicas = _replicas(params.pop("replicas", None))
            resolve(stack, params)  # refuse a bad name or value now, before anything starts
            found.append(Variant(stack, _label(stack.name, base_tag, combo), params, replicas))
    labels = [v.label for v in found]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"{', '.join(twice)} named twice", tip="measure one stack twice under two labels: "
                          f"{twice[0]}@a {twice[0]}@b")  # fmt: skip
    return found


def _replicas(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"replicas={text!r} is not a whole number of at least 1",
                          tip="e.g. flask_gunicorn@replicas=2")
    return int(text)


def _combinations(parsed: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    names = [name for name, _ in parsed]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(v for _, v in parsed))]


def _tag_params(tag: str) -> dict[str, str]:
    """`workers=2,worker_class=gthread` -> its values; a plain tag (`a`) sets none."""
    if "=" not in tag:
        return {}
    pairs = [part.partition("=") for part in tag.split(",")]
    if any(not eq or not k or not v for k, eq, v in pairs):
        raise ConfigError(f"cannot read @{tag}", tip="label with values like flask_gunicorn@workers=2,threads=4")
    return {k: v for k, _, v in pairs}


def _label(stack: str, tag: str, combo: Mapping[str, str]) -> str:
    parts = [tag] if tag else []
    parts += [f"{k}={v}" for k, v in combo.items()]
    return f"{stack}@{','.join(parts)}" if parts else stack
