"""Stack folders are data: every stack.toml parses and its templates render completely."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import istio
from bench.errors import ConfigError
from bench.stacks import discover, load_stack, render

STACKS = discover()


def test_the_four_stacks_are_there() -> None:
    assert list(STACKS) == ["flask", "flask_gunicorn", "flask_gunicorn_nginx", "fastapi_istio"]


@pytest.mark.parametrize("name", list(STACKS))
def test_every_placeholder_is_known(name: str) -> None:
    stack = STACKS[name]
    context = {"python": "py", "stack_dir": "/s", "workdir": "/w", "bind_host": "127.0.0.1"}
    for port in stack.ports:
        context |= {f"port.{port}": "1", f"host.{port}": "h"}
    if stack.breaker_file:
        context |= istio.template_context(istio.choose(stack.path / stack.breaker_file, "seed"))
    for proc in stack.processes:
        assert all("{{" not in render(part, context) for part in proc.command)
    for template in stack.templates:
        assert "{{" not in render((stack.path / template).read_text(), context)


def test_unknown_placeholder_is_an_error_not_left_in() -> None:
    with pytest.raises(ConfigError, match=r"unknown placeholder \{\{port.nope\}\}"):
        render("listen {{port.nope}};", {"port.app": "1"})


def test_a_stack_toml_without_its_keys_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "stack.toml").write_text('description = "x"\n')
    with pytest.raises(ConfigError, match=r"broken/stack.toml: missing key 'ports'"):
        load_stack(folder / "stack.toml")
