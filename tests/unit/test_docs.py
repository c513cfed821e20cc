"""The docs cannot drift from the code: run.json's reference, the command reference, the links.

- docs/run-json.md documents every field of every dataclass run.json is written from (walked
  from `RunResult` through its fields' types), and nothing that is no longer there.
- docs/commands.md is the real `--help` of every command; regenerate it after changing a flag:

      .venv/bin/python -m tests.unit.test_docs

- every relative link of README.md, benchmarks/README.md and docs/ names a file that exists,
  and an anchor (`page.md#a-heading`) a heading of that page.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import tomllib
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.cli import build_parser
from bench.results import RunResult

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUN_JSON = DOCS / "run-json.md"
COMMANDS = DOCS / "commands.md"
HELP_COLUMNS = "100"  # argparse wraps help at the terminal's width: fixed, so the page is the same everywhere
REGENERATE = ".venv/bin/python -m tests.unit.test_docs"

# --- run.json: every field of the record documented ----------------------------------------


def record_fields(root: type) -> dict[str, list[str]]:
    """Every dataclass reachable from `root` through its fields' types -> its field names, in order."""
    found: dict[str, list[str]] = {}
    seen: dict[str, type] = {}
    todo = [root]
    while todo:
        cls = todo.pop(0)
        if cls.__name__ in seen:
            if seen[cls.__name__] is not cls:  # the reference is by class name: two classes cannot share one
                raise AssertionError(f"two record classes named {cls.__name__}: {seen[cls.__name__]} and {cls}")
            continue
        seen[cls.__name__] = cls
        hints = typing.get_type_hints(cls)
        found[cls.__name__] = [f.name for f in dataclasses.fields(cls)]
        for f in dataclasses.fields(cls):
            todo += [t for t in _types_in(hints[f.name]) if dataclasses.is_dataclass(t)]
    return found


def _types_in(hint: object) -> Iterator[type]:
    """The classes a type hint names: `list[Measurement] | None` -> list, Measurement, NoneType."""
    if isinstance(hint, type):
        yield hint
    for arg in typing.get_args(hint):
        yield from _types_in(arg)


_CLASS_HEADING = re.compile(r"^#{2,6} [^`\n]*`(_?[A-Z]\w*)`", re.MULTILINE)  # "## `Measurement`: ..."
_FIELD_ROW = re.compile(r"^\| `(\w+)`", re.MULTILINE)  # "| `label` | ... |"


def documented_fields(text: str) -> dict[str, set[str]]:
    """Sections whose heading names a class in backticks -> the fields their tables' first column names."""
    headings = list(_CLASS_HEADING.finditer(text))
    ends = [m.start() for m in re.finditer(r"^#{1,6} ", text, re.MULTILINE)] + [len(text)]
    found: dict[str, set[str]] = {}
    for m in headings:
        end = min(e for e in ends if e > m.start())
        found.setdefault(m.group(1), set()).update(_FIELD_ROW.findall(text, m.end(), end))
    return found


def undocumented(root: type, text: str) -> list[str]:
    """`Class.field` for every field of the record the text does not document."""
    docs = documented_fields(text)
    return [f"{cls}.{name}" for cls, names in record_fields(root).items() for name in names
            if name not in docs.get(cls, set())]  # fmt: skip


def stale(root: type, text: str, extra: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    """`Class.field` documented in the text but no longer in the record (and classes no longer in it);
    `extra`: keys a class writes beyond its fields (`to_json`), which may be documented too."""
    record, extra = record_fields(root), extra or {}
    return [f"{cls}.{name}" for cls, names in documented_fields(text).items() for name in sorted(names)
            if name not in record.get(cls, []) and name not in extra.get(cls, ())]  # fmt: skip


def test_every_field_of_run_json_is_documented() -> None:
    missing = undocumented(RunResult, RUN_JSON.read_text(encoding="utf-8"))
    assert not missing, (
        f"fields of run.json not documented in {RUN_JSON.relative_to(ROOT)} (add a row `| `name` | ... |` to the "
        f"class's section, and bump SCHEMA_VERSION if a reader would notice): {', '.join(missing)}"
    )


def test_every_top_level_key_of_run_json_is_documented() -> None:
    """Keys `to_json` writes beside the dataclass fields (a computed summary, say) are documented too."""
    written = RunResult(run_id="20261205-000000", scenario="measure", started_at="2026-12-05T00:00:00+0000").to_json()
    documented = documented_fields(RUN_JSON.read_text(encoding="utf-8")).get("RunResult", set())
    missing = [key for key in written if key not in documented]
    assert not missing, f"keys of run.json not documented in the RunResult section of docs/run-json.md: {missing}"


def test_nothing_documented_that_run_json_no_longer_has() -> None:
    written = RunResult(run_id="20261205-000000", scenario="measure", started_at="2026-12-05T00:00:00+0000").to_json()
    gone = stale(RunResult, RUN_JSON.read_text(encoding="utf-8"), {"RunResult": tuple(written)})
    assert not gone, f"{RUN_JSON.relative_to(ROOT)} documents fields the record no longer has: {', '.join(gone)}"


def test_run_json_reference_names_the_schema_version() -> None:
    from bench.results import SCHEMA_VERSION

    text = RUN_JSON.read_text(encoding="utf-8")
    assert f"`schema_version`: {SCHEMA_VERSION}" in text, "docs/run-json.md must say which schema version it describes"


@dataclass
class _Inner:
    kept: int = 0
    added: str = ""  # a field someone added without documenting it


@dataclass
class _Item:
    name: str = ""


@dataclass
class _Outer:
    label: str = ""
    inner: _Inner | None = None
    items: list[_Item] = field(default_factory=list)
    by_name: dict[str, _Item] = field(default_factory=dict)


_SYNTHETIC_DOC = """\
# A record

## `_Outer`: the whole record

| field | meaning |
|---|---|
| `label` | a name |
| `inner` | see below |
| `items` | see below |
| `by_name` | see below |

Text between tables, and `_Inner` named in prose, documents nothing.

### `_Inner`

| field | meaning |
|---|---|
| `kept` | a count |

## `_Item`

| `name` | its name |
| `gone` | a field the record no longer has |

## settings (not a class: lowercase)

| `anything` | free-form keys are not checked |
"""


def test_the_reference_check_fails_on_an_undocumented_field() -> None:
    """The check above can fail: a field added to a nested record class without a row is named."""
    assert record_fields(_Outer) == {"_Outer": ["label", "inner", "items", "by_name"], "_Inner": ["kept", "added"],
                                     "_Item": ["name"]}  # fmt: skip
    assert undocumented(_Outer, _SYNTHETIC_DOC) == ["_Inner.added"]
    assert stale(_Outer, _SYNTHETIC_DOC) == ["_Item.gone"]
    assert undocumented(_Outer, _SYNTHETIC_DOC.replace("| `kept` | a count |", "")) == ["_Inner.kept", "_Inner.added"]
    whole = _SYNTHETIC_DOC.replace("| `kept` | a count |", "| `kept` | a count |\n| `added` | now documented |")
    assert undocumented(_Outer, whole) == []


def test_two_record_classes_of_one_name_are_refused() -> None:
    """The reference is by class name, so two record classes of one name would share a section: refused."""
    first = dataclasses.make_dataclass("Same", [("a", int)])
    second = dataclasses.make_dataclass("Same", [("b", int)])
    root = dataclasses.make_dataclass("Root", [("one", list[first]), ("two", second | None)])  # type: ignore[valid-type]
    with pytest.raises(AssertionError, match="two record classes named Same"):
        record_fields(root)


# --- docs/commands.md: the real --help of every command --------------------------------------


def help_page() -> str:
    """docs/commands.md as the parser prints it today (BENCH_* variables would change the defaults shown)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parts = [
        "# Command reference",
        "",
        "<!-- generated from the real --help: do not edit by hand; regenerate with",
        f"     {REGENERATE}",
        "     (tests/unit/test_docs.py fails when this page and --help differ) -->",
        "",
        "`./lab ARGS` is `python -m bench ARGS` inside the lab's venv. Every flag can also be set from its",
        "environment variable (`BENCH_USERS`, `BENCH_DURATION`, ...); the command line wins. The scenarios",
        "are described in [docs/](README.md); exit codes are in the [README](../README.md#exit-codes).",
        "Defaults that depend on the machine are named: LAB is the lab's folder; `--uid`/`--gid` default to",
        "the user running the command.",
        "",
        "Commands: " + ", ".join(f"[`{name}`](#{name})" for name in sub.choices) + ".",
        "",
        "## python -m bench",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    for name, command in sub.choices.items():
        parts += ["", f"## {name}", "", "```text", command.format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


def _clean_environment() -> dict[str, str | None]:
    """Set COLUMNS and drop BENCH_*; what was there before, to put back."""
    before = {k: v for k, v in os.environ.items() if k.startswith("BENCH_")} | {"COLUMNS": os.environ.get("COLUMNS")}
    for k in before:
        os.environ.pop(k, None)
    os.environ["COLUMNS"] = HELP_COLUMNS
    return before


def _restore(before: dict[str, str | None]) -> None:
    os.environ.pop("COLUMNS", None)
    os.environ.update({k: v for k, v in before.items() if v is not None})


def generated_help_page() -> str:
    before = _clean_environment()
    try:
        return portable(help_page())
    finally:
        _restore(before)


_OWNER_FLAGS = {"--uid": "your user id", "--gid": "your group id"}


def portable(text: str) -> str:
    """The page as on any machine: defaults that depend on this one (the checkout's folder, the
    user's uid and gid) named instead of shown, so a clone elsewhere or CI reads the same page."""
    text = text.replace(str(ROOT), "LAB")
    lines, flag = [], ""
    for line in text.split("\n"):
        if m := re.match(r"^  (-[-\w]+)", line):
            flag = m.group(1)
        elif not line.startswith("   "):  # neither an option nor its continuation
            flag = ""
        if flag in _OWNER_FLAGS:
            line = re.sub(r"\(default: \d+\)", f"(default: {_OWNER_FLAGS[flag]})", line)
        lines.append(line)
    return "\n".join(lines)


def test_the_command_reference_shows_no_machine_of_its_own() -> None:
    """What the options' defaults make of this machine (its folder, its uid) is named, not printed."""
    uid = os.getuid()
    help_text = (
        "options:\n"
        f"  --uid UID             owner of files written in containers (default: {uid})\n"
        "  --gid GID             group of files written in containers\n"
        f"                        (default: {uid})\n"
        f"  --results RESULTS     results folder (default: {ROOT}/results)\n"
        f"  --repeat REPEAT       measure each N times (default: {uid})\n"
    )
    assert portable(help_text) == (
        "options:\n"
        "  --uid UID             owner of files written in containers (default: your user id)\n"
        "  --gid GID             group of files written in containers\n"
        "                        (default: your group id)\n"
        "  --results RESULTS     results folder (default: LAB/results)\n"
        f"  --repeat REPEAT       measure each N times (default: {uid})\n"
    )


def test_command_reference_is_the_real_help() -> None:
    assert COMMANDS.read_text(encoding="utf-8") == generated_help_page(), (
        f"{COMMANDS.relative_to(ROOT)} differs from the commands' --help: regenerate it with `{REGENERATE}`"
    )


def test_command_reference_covers_every_command() -> None:
    text = COMMANDS.read_text(encoding="utf-8")
    for name in ("list", "all", "stack", "breaker", "sweep", "capacity", "layers", "gateway", "k8s", "report",
                 "compare"):
        assert f"\n## {name}\n" in text and f"usage: python -m bench {name}" in text, name


# --- docs/limited-by.md: the rules of bench/analysis/rules.toml ------------------------------------------


def test_limited_by_page_lists_every_rule_in_order() -> None:
    """Each rule of bench/analysis/rules.toml is a row of docs/limited-by.md, in the file's order, with its
    conditions."""
    rules = tomllib.loads((ROOT / "bench" / "analysis" / "rules.toml").read_text(encoding="utf-8"))
    text = (DOCS / "limited-by.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| (limit|risk) \| (.*?) \|", text, re.MULTILINE)
    assert [name for name, _, _ in rows] == list(rules), "docs/limited-by.md's rules differ from the rules file"
    for name, kind, when in rows:
        rule = rules[name]
        groups = [", ".join(f"`{c}`" for c in group) for group in ([rule["when"]] if "when" in rule else [])
                  + rule.get("any", [])]  # fmt: skip
        assert kind == rule["kind"], f"rule {name}: kind {kind}"
        assert when == (groups[0] if len(groups) == 1 else " or ".join(f"({g})" for g in groups)), f"rule {name}"


# --- links -----------------------------------------------------------------------------------

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted(DOCS.rglob("*.md"))]


def anchors(text: str) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` whose file (or heading) does not exist."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target} (no such heading)")
    return broken


def test_every_relative_link_resolves() -> None:
    broken = {str(p.relative_to(ROOT)): b for p in pages() if (b := broken_links(p))}
    assert not broken, broken


def test_the_link_check_fails_on_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with commas\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-code-heading-with-commas) [web](https://example.com/x.md)\n"
        "[gone](missing.md) [bad anchor](other.md#nothing) [self](#nothing-here)\n"
        "```\n[in a code block](ignored.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page) == ["missing.md (no such file)", "other.md#nothing (no such heading)",
                                  "#nothing-here (no such heading)"]  # fmt: skip


def test_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 260, f"README.md has {lines} lines: move the detail to docs/"


if __name__ == "__main__":  # regenerate docs/commands.md
    COMMANDS.write_text(generated_help_page(), encoding="utf-8")
    print(f"wrote {COMMANDS.relative_to(ROOT)}")
