"""Every repository path the code, the tests and the docs name exists: a module moved without its mentions
moving too (a module moved into bench/load/ while a docstring still named its old place) fails here, not in a
reader's hands. The dated pages of docs/results/ are records of their day and keep the paths they had."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = "bench|tests|benchmarks|stacks|apps|scripts|docs"
PATH = re.compile(rf"(?<![\w/.<>{{}}$*-])((?:{TOP})/[\w/.-]*\w\.(?:py|toml|md|yml))\b")


def _named() -> dict[str, list[str]]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    named: dict[str, list[str]] = {}
    for f in files:
        if f.startswith("docs/results/") or not f.endswith((".py", ".md", ".toml", ".yml")):
            continue
        for n, line in enumerate((ROOT / f).read_text(encoding="utf-8").splitlines(), 1):
            for path in PATH.findall(line):
                named.setdefault(path, []).append(f"{f}:{n}")
    return named


def test_every_repository_path_named_exists() -> None:
    named = _named()
    assert "bench/analysis/summary.py" in named  # the scan finds what it should
    missing = {path: where[:3] for path, where in named.items() if not (ROOT / path).exists()}
    assert not missing, missing
