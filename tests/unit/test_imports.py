"""The layers of bench/, read from the source (parsed, never imported). Data flows one way: what runs
(bench/stacks/, bench/gateway/) -> bring-up (bench/backends/) -> load and sampling (bench/load/, bench/sampling/)
-> run.json (bench/results.py) -> verdicts (bench/analysis/) -> the report (bench/report/). So: a backend never
imports a sibling backend (they share through bench/backends/base.py, pipeline.py and docker/), nor the session
or the report; the report and the verdicts never run anything (no backend, session or load runner); describing
what runs imports nothing downstream; what ships beside the locustfile imports nothing of bench but itself.
Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.stacks.catalog import ROOT

BACKENDS = ("local", "compose", "swarm")  # how a stack is brought up: one strategy each
SHARED = ("base", "pipeline", "docker")  # what the backends share, importing no backend themselves
DOWNSTREAM = ("bench.report", "bench.session")  # what runs the backends or reads their results
RUNS = ("bench.backends", "bench.session", "bench.load.runner")  # what brings stacks up or loads them
DESCRIBES = ("bench.stacks", "bench.gateway")  # what runs, read from stacks/: upstream of everything else
AFTER_DESCRIBING = ("bench.backends", "bench.load", "bench.sampling", "bench.results", "bench.analysis",
                    "bench.session", "bench.scenarios", "bench.report", "bench.cli")  # fmt: skip
# The locustfile imports these by their bare names from its own folder, inside locust, wherever locust runs.
SHIPPED = ("bench.load.locustfile", "bench.load.lab_load", "bench.load.record", "bench.load.window")


def imported(module: str, source: str, package: bool = False) -> set[str]:
    """Every module `source` (the code of `module`) imports: `from a import b` counts as a and a.b (b may be a
    module), relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + (1 if package else 0)]
                base = ".".join([*parts, *([base] if base else [])])
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _backend_of(name: str) -> str | None:
    """`swarm` for bench.backends.swarm.engine; `docker` for the shared package; None outside bench.backends."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["bench", "backends"] else None


def problems(module: str, source: str, package: bool = False) -> list[str]:
    """What `module` imports that its layer must not (once per import: not again for a name inside it)."""
    found: list[str] = []
    wrong: list[str] = []
    mine = _backend_of(module)
    for name in sorted(imported(module, source, package)):
        if any(_within(name, w) for w in wrong):
            continue
        before = len(found)
        theirs = _backend_of(name)
        if mine in BACKENDS and theirs in BACKENDS and theirs != mine:
            found.append(f"{module} imports {name}: a sibling backend (share through {', '.join(SHARED)})")
        if mine in SHARED and theirs in BACKENDS:
            found.append(f"{module} imports {name}: what the backends share imports no backend")
        if mine is not None and any(_within(name, d) for d in DOWNSTREAM):
            found.append(f"{module} imports {name}: a backend never reaches the session or the report")
        if _within(module, "bench.report") and any(_within(name, r) for r in RUNS):
            found.append(f"{module} imports {name}: the report reads results only, never runs anything")
        if _within(module, "bench.analysis") and any(_within(name, r) for r in RUNS):
            found.append(f"{module} imports {name}: verdicts are computed from measurements, never by running")
        if any(_within(module, d) for d in DESCRIBES) and any(_within(name, a) for a in AFTER_DESCRIBING):
            found.append(f"{module} imports {name}: describing what runs imports nothing downstream")
        if module in SHIPPED and _within(name, "bench") and not any(_within(name, s) for s in SHIPPED):
            found.append(f"{module} imports {name}: what ships beside the locustfile imports only itself")
        if len(found) > before:
            wrong.append(name)
    return found


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def test_no_module_imports_across_its_layer() -> None:
    found = [p for module, path in _modules()
             for p in problems(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")]  # fmt: skip
    assert found == []
    assert {m for m, _ in _modules()} >= {"bench.backends.docker.command", "bench.backends.swarm", "bench.report",
                                          "bench.analysis.summary", "bench.stacks.catalog", *SHIPPED}  # fmt: skip


@pytest.mark.parametrize(
    ("module", "source", "package", "wrong"),
    [
        ("bench.backends.swarm.render", "from bench.backends.compose import interpolate", False,
         "bench.backends.compose: a sibling backend"),
        ("bench.backends.compose", "from bench.backends import local", False, "bench.backends.local: a sibling"),
        ("bench.backends.compose", "def up():\n    from bench.backends.local import free_port\n", False,
         "bench.backends.local: a sibling"),
        ("bench.backends.swarm.tasks", "from ..compose import EngineStats", False, "bench.backends.compose: a sibling"),
        ("bench.backends.swarm", "from ..local import free_port", True, "bench.backends.local: a sibling"),
        ("bench.backends.docker.stats", "import bench.backends.swarm.engine", False, "imports no backend"),
        ("bench.backends.local", "import bench.session", False, "bench.session: a backend never reaches"),
        ("bench.backends.compose", "from bench.report.tables import x", False, "bench.report.tables: a backend"),
        ("bench.backends.pipeline", "from bench import report", False, "bench.report: a backend never"),
        ("bench.report.tables", "from bench.backends.base import RunningStack", False, "reads results only"),
        ("bench.report.compare", "from bench.load.runner import run_load", False, "reads results only"),
        ("bench.analysis.summary", "from bench import session", False, "bench.session: verdicts are computed"),
        ("bench.analysis.slo", "from bench.backends.docker import stats", False, "never by running"),
        ("bench.stacks.variants", "from bench.results import Measurement", False, "imports nothing downstream"),
        ("bench.gateway.api_gateway", "def f():\n    from bench.analysis import stats\n", False, "nothing downstream"),
        ("bench.load.window", "from bench.results import LoadShape", False, "beside the locustfile imports only"),
        ("bench.load.record", "from bench.stacks.catalog import ROOT", False, "beside the locustfile imports only"),
    ],
)
def test_the_rules_fail_on_an_import_across_the_layers(module: str, source: str, package: bool, wrong: str) -> None:
    found = problems(module, source, package)
    assert len(found) == 1 and wrong in found[0], found


def test_what_the_backends_share_and_their_own_parts_are_allowed() -> None:
    source = ("import docker\nfrom bench.backends import pipeline\nfrom bench.backends.base import BringUp\n"
              "from bench.backends.docker.command import docker\nfrom bench.backends.swarm import engine\n"
              "from . import render\nfrom bench.load.runner import locust_args\n")  # fmt: skip
    assert problems("bench.backends.swarm", source, package=True) == []
    assert imported("bench.backends.swarm", "from . import render", package=True) == {
        "bench.backends.swarm", "bench.backends.swarm.render"}  # fmt: skip
