"""A choice parameter's old names (`aliases` in stack.toml): accepted, run as the value they name, and a run
stored under the old name still compares with one under the new name (the uvicorn worker's move from
`uvicorn.workers` to the uvicorn-worker package)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.report.compare import compare_runs
from bench.results import RunResult
from bench.stacks.catalog import canonical_params, discover
from bench.stacks.params import load_params
from bench.stacks.variants import template_context, variants
from tests.factories import measured, run_of

OLD, NEW = "uvicorn.workers.UvicornWorker", "uvicorn_worker.UvicornWorker"
FASTAPI_STACKS = ["fastapi", "fastapi_nginx", "fastapi_istio"]


@pytest.mark.parametrize("name", FASTAPI_STACKS)
def test_the_old_worker_class_runs_the_new_one_under_the_label_it_was_given(name: str) -> None:
    stack = discover()[name]
    assert stack.params["worker_class"].default == NEW
    [row] = variants([(stack, f"{name}@worker_class={OLD}")])
    assert row.label == f"{name}@worker_class={OLD}"  # a stored label typed again is the same label
    assert template_context(stack, row.params, {})["param.worker_class"] == NEW  # what gunicorn.conf.py gets


def test_stored_params_under_the_old_name_read_as_the_new_one() -> None:
    stored = {"workers": "4", "worker_class": OLD, "gone": "x"}
    assert canonical_params("fastapi", stored) == {"workers": "4", "worker_class": NEW, "gone": "x"}
    assert canonical_params("no_such_stack", stored) == stored  # a stack no longer there: as stored


def _run(run_id: str, worker_class: str, workers: str = "4") -> RunResult:
    params = {"workers": workers, "worker_class": worker_class}
    ms = [measured("fastapi", r, [2.0 + 0.1 * r] * 20, params=params) for r in (1, 2, 3)]
    return replace(run_of(*ms), run_id=run_id, status="complete")


def test_compare_matches_a_run_stored_under_the_old_worker_class_with_one_under_the_new() -> None:
    c = compare_runs(_run("20261205-080000", OLD), _run("20261205-090000", NEW))
    assert [lc.label for lc in c.labels] == ["fastapi"] and c.not_compared == []
    c = compare_runs(_run("20261205-080000", OLD), _run("20261205-090000", NEW, workers="2"))
    assert c.labels == [] and c.not_compared == [
        ("fastapi", f"stack parameters workers=4, worker_class={NEW} in A, workers=2, worker_class={NEW} in B")]


def test_an_alias_must_name_one_of_the_values(tmp_path: Path) -> None:
    raw = {"worker_class": {"type": "choice", "values": ["a"], "default": "a", "aliases": {"old": "b"}}}
    with pytest.raises(ConfigError, match=r"worker_class='b' is not allowed"):
        load_params(raw, tmp_path, "stack.toml")
    raw["worker_class"] |= {"type": "int", "aliases": {"old": "a"}}
    with pytest.raises(ConfigError, match="aliases must be a table of old name = value, for a choice"):
        load_params(raw, tmp_path, "stack.toml")
