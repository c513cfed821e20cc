"""Stack folders are data: every stack.toml parses and its templates render completely."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.stacks.catalog import discover, fill, in_all, load_stack
from bench.stacks.userapp import own_app
from bench.stacks.variants import param_variables, resolve, template_context, variants

STACKS = discover(hidden=True)
CONTROLS = ["fastapi", "flask_gunicorn_gthread", "uvicorn", "fastapi_nginx", "granian_wsgi", "granian_asgi"]


def test_the_seed_stacks_are_what_bench_all_measures_and_the_controls_are_there() -> None:
    assert [s.name for s in in_all()] == ["flask", "flask_gunicorn", "flask_gunicorn_nginx", "fastapi_istio"]
    assert set(CONTROLS) <= set(discover())


@pytest.mark.parametrize("name", list(STACKS))
def test_every_placeholder_is_known(name: str) -> None:
    stack = STACKS[name]
    context = {"python": "py", "stack_dir": "/s", "workdir": "/w", "bind_host": "127.0.0.1"}
    for port in stack.ports:
        context |= {f"port.{port}": "1", f"host.{port}": "h", f"discovery.{port}": "STATIC"}
    context |= template_context(stack, {}, context) | own_app(stack.app, stack.interface).context()
    for proc in stack.processes:
        assert all("{{" not in fill(part, context) for part in proc.command)
    for template in stack.templates:
        assert "{{" not in fill((stack.path / template).read_text(), context)


def test_unknown_placeholder_is_an_error_not_left_in() -> None:
    with pytest.raises(ConfigError, match=r"unknown placeholder \{\{port.nope\}\}"):
        fill("listen {{port.nope}};", {"port.app": "1"})


def test_a_stack_toml_without_its_keys_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "stack.toml").write_text('description = "x"\n')
    with pytest.raises(ConfigError, match=r"broken/stack.toml: missing key 'ports'"):
        load_stack(folder / "stack.toml")


@pytest.mark.parametrize("name", [n for n in STACKS if STACKS[n].params])
def test_the_compose_files_defaults_are_the_parameters_defaults(name: str) -> None:
    """A compose file run by hand (no BENCH_PARAM_* set) must run the stack as its stack.toml's defaults."""
    stack = STACKS[name]
    text = (stack.path / stack.compose.file).read_text()
    for variable, value in param_variables(stack, {}).items():
        if variable in text:
            assert f"${{{variable}:-{value}}}" in text, (variable, value)


def test_a_bad_parameter_name_or_value_is_refused_with_what_is_valid() -> None:
    gunicorn = STACKS["flask_gunicorn"]
    with pytest.raises(ConfigError, match="stack 'flask_gunicorn' has no parameter 'wrokers'") as exc:
        resolve(gunicorn, {"wrokers": "2"})
    assert exc.value.tip == "its parameters: workers, worker_class, threads, keepalive, backlog"
    with pytest.raises(ConfigError, match="flask_gunicorn: worker_class='eventlet' is not allowed") as exc:
        resolve(gunicorn, {"worker_class": "eventlet"})
    assert exc.value.tip == "worker_class: one of sync, gthread (default sync)"
    with pytest.raises(ConfigError, match="flask_gunicorn: workers=0 is out of range"):
        resolve(gunicorn, {"workers": "0"})
    with pytest.raises(ConfigError, match="is not a whole number"):
        resolve(gunicorn, {"workers": "four"})


def test_set_lists_make_every_combination_labelled_by_what_was_set() -> None:
    rows = variants([(STACKS["flask_gunicorn"], "flask_gunicorn")], ["workers=1,2", "worker_class=sync,gthread"])
    assert [v.label for v in rows] == [
        "flask_gunicorn@workers=1,worker_class=sync", "flask_gunicorn@workers=1,worker_class=gthread",
        "flask_gunicorn@workers=2,worker_class=sync", "flask_gunicorn@workers=2,worker_class=gthread"]  # fmt: skip
    assert rows[3].params == {"workers": "2", "worker_class": "gthread"}
    named = variants([(STACKS["flask_gunicorn"], "flask_gunicorn@workers=2")])
    assert named[0].params == {"workers": "2"}
    assert resolve(STACKS["flask_gunicorn"], named[0].params)["backlog"] == "2048"  # the others: defaults
    tagged = variants([(STACKS["flask"], "flask@a"), (STACKS["flask"], "flask@b")])
    assert [v.params for v in tagged] == [{}, {}]
    for bad in (["workers"], ["workers=1,,2"], ["=1"], ["workers=1", "workers=2"]):
        with pytest.raises(ConfigError, match="--set"):
            variants([(STACKS["flask_gunicorn"], "flask_gunicorn")], bad)


def test_the_rendered_gunicorn_config_carries_the_values() -> None:
    context = template_context(STACKS["flask_gunicorn"], {"workers": "2", "worker_class": "gthread"}, {})
    conf = fill((STACKS["flask_gunicorn"].path / "../common/gunicorn.conf.py").read_text(), context)
    assert 'workers = 2\nworker_class = "gthread"' in conf and "backlog = 2048" in conf


def test_a_set_applies_to_the_stacks_that_declare_it_and_is_refused_when_none_does() -> None:
    rows = variants([(STACKS["flask"], "flask"), (STACKS["flask_gunicorn"], "flask_gunicorn")], ["workers=1,2"])
    assert [v.label for v in rows] == ["flask", "flask_gunicorn@workers=1", "flask_gunicorn@workers=2"]
    with pytest.raises(ConfigError, match="no chosen stack \\(flask\\) has a parameter 'workers'") as exc:
        variants([(STACKS["flask"], "flask")], ["workers=2"])
    assert exc.value.tip == "their parameters: threads"
