"""The compose backend's pure parts: template context, rendered configs, names, compose files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.backends.compose import (
    CONFIG_DIR,
    ComposeLauncher,
    Generators,
    compose_context,
    probe_argv,
    project_name,
    render_configs,
    run_file,
)
from bench.backends.docker import images
from bench.backends.docker.variables import cpuset
from bench.gateway import istio
from bench.load.runner import LOCUSTFILE, locust_env
from bench.results import LoadShape
from bench.stacks.catalog import discover

STACKS = discover(hidden=True)  # the floor runs under compose too
TEMPLATED = [name for name, stack in STACKS.items() if stack.templates]


@pytest.mark.parametrize("name", TEMPLATED)
def test_committed_compose_configs_equal_what_the_renderer_produces(name: str, tmp_path: Path) -> None:
    stack = STACKS[name]
    render_configs(stack, {}, tmp_path)
    for template in stack.templates:
        name = Path(template).name
        committed = stack.path / CONFIG_DIR / name
        assert committed.read_text() == (tmp_path / name).read_text(), (
            f"{committed} drifted from {stack.path / template}: run `python -m bench.backends.compose`"
        )


def test_nginx_reaches_gunicorn_by_its_compose_service_name() -> None:
    context = compose_context(STACKS["flask_gunicorn_nginx"], {})
    assert (context["host.app"], context["port.app"], context["port.proxy"]) == ("app", "5901", "80")
    assert context["bind_host"] == "0.0.0.0"


def test_the_envoy_sidecar_reaches_the_app_on_loopback_with_the_chosen_breaker() -> None:
    stack = STACKS["fastapi_istio"]
    context = compose_context(stack, {"breaker": "tight"})
    assert (context["host.app"], context["port.app"], context["port.proxy"]) == ("127.0.0.1", "5000", "15001")
    tight = istio.template_context(istio.choose(stack.path / "breaker.toml", "tight"))
    assert context["breaker.circuit_breakers"] == tight["breaker.circuit_breakers"]


def test_every_stack_has_a_compose_file_with_the_common_load_services_and_its_target_service() -> None:
    common = (images.ROOT / "stacks" / "common" / "load.yml").read_text()
    assert "\n  user: &locust" in common and "<<: *locust" in common and "--master-host" in common
    for stack in STACKS.values():
        text = (stack.path / stack.compose.file).read_text()
        assert f"\n  {stack.compose.target_service}:" in text, stack.name
        for service in ("user", "worker"):
            assert f"extends: {{file: ../common/load.yml, service: {service}}}" in text, (stack.name, service)
        lines = (text + common).splitlines()
        assert not any(line.startswith("version:") or "deploy:" in line for line in lines), stack.name  # v1 and v2


def test_project_names_are_unique_per_run_stack_and_lowercase() -> None:
    name = project_name(Path("/r/runs/20250101-120000-2/Flask_Gunicorn-r2"), 3)
    assert name == "bench-20250101-120000-2-flask_gunicorn-r2-3"


def test_pinned_cpus_become_the_containers_cpusets() -> None:
    assert (cpuset((0,), 2), cpuset((1,), 2)) == ("0", "1")  # --pin auto on 2 CPUs
    assert cpuset((2, 3), 4) == "2,3"  # --pin 0-1:2-3
    assert cpuset(None, 4) == "0-3"  # --pin off: every CPU of the engine


def _launcher(folder: Path) -> ComposeLauncher:
    compose = ("docker-compose", "-p", "bench-x-1", "-f", "f.yml")
    return ComposeLauncher(compose, {}, 0, 0, Generators(compose, {}, "bench-x-1", folder / "compose.log"), folder)


def test_the_launcher_runs_locust_in_the_user_container(tmp_path: Path) -> None:
    settings = LoadShape(5, 5, 2.0, 1.0)
    argv, env = _launcher(tmp_path).command(settings, "http://proxy:80", tmp_path / "sat" / "load")
    assert argv[:2] == ["docker", "exec"]
    container = argv.index("bench-x-1-user")
    assert argv[container + 1 : container + 3] == ["sh", "-c"] and argv[container + 5 : container + 8] == [
        "python", "-m", "locust"]  # fmt: skip
    inner = locust_env(settings, "/out/sat/load")  # the load's folder, as the container mounts the bring-up's
    assert all(f"-e {k}" in " ".join(argv[:container]) and env[k] == v for k, v in inner.items())
    assert "-e LAB_LOAD_HEADERS" in " ".join(argv[:container])  # a client switch, when run_load sets it
    assert argv[argv.index("--host") + 1] == "http://proxy:80"
    assert argv[argv.index("--csv") + 1] == "/out/sat/load/locust"
    assert "--master" not in argv and "--processes" not in argv


def test_with_two_processes_the_user_container_is_a_named_master_of_two_workers(tmp_path: Path) -> None:
    argv, env = _launcher(tmp_path).command(LoadShape(10, 10, 2.0, 1.0, rate=100.0, processes=2), "http://app:80",
                                            tmp_path / "load")  # fmt: skip
    assert "--processes" not in argv  # locust's own forking stays local; here the workers are containers
    assert argv[argv.index("--expect-workers") + 1] == "2" and "--master" in argv
    assert env["LAB_LOAD_PROCESS_RATE"] == "50"  # each worker paces its share of the total rate
    assert _launcher(tmp_path).generators.name("user_outside") == "bench-x-1-user-outside"  # a DNS name


def test_the_wheelhouse_holds_only_container_packages_and_its_stamp_follows_the_pins() -> None:
    pins = images.container_requirements()
    assert {p.split("==")[0] for p in pins} == set(images.CONTAINER_PACKAGES)
    assert images.wheelhouse_stamp("x86_64", pins) != images.wheelhouse_stamp("aarch64", pins)
    assert images.wheelhouse_stamp("x86_64", pins) != images.wheelhouse_stamp("x86_64", [*pins[:-1], "locust==0"])


def _sent_to_the_engine(path: str, rules: list[str]) -> bool:
    """Whether .dockerignore (`*`, then `!` exceptions) lets `path` into the build context."""
    allowed = False
    for rule in rules:
        pattern = rule[1:] if rule.startswith("!") else rule
        if pattern == "*" or path == pattern.rstrip("/") or path.startswith(pattern.rstrip("/") + "/"):
            allowed = rule.startswith("!")
    return allowed


def test_every_file_a_dockerfile_copies_is_in_the_build_context() -> None:
    root = images.ROOT
    rules = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()]
    rules = [rule for rule in rules if rule and not rule.startswith("#") and "__pycache__" not in rule]
    rules = [rule for rule in rules if not rule.endswith(".pyc")]
    for dockerfile in (root / "dockerfiles").glob("*.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if not line.startswith("COPY "):
                continue
            *sources, _ = line.split()[1:]
            for source in sources:
                if source.startswith("${"):
                    source = ".cache/wheelhouse/x86_64"  # the WHEELHOUSE build arg's default
                assert (root / source).exists() or source.startswith(".cache/"), f"{dockerfile.name}: {source}"
                assert _sent_to_the_engine(source, rules), f"{dockerfile.name} copies {source}, .dockerignore drops it"


def _beside_the_locustfile() -> list[str]:
    """The modules the locustfile imports from its own folder (locust puts that folder on sys.path)."""
    here = {p.stem for p in LOCUSTFILE.parent.glob("*.py")}
    lines = LOCUSTFILE.read_text().splitlines()
    found = [line.split()[1] for line in lines if line.startswith(("import ", "from "))]
    return sorted({name for name in found if name in here})


def test_what_the_locustfile_imports_ships_with_it_everywhere() -> None:
    shipped = _beside_the_locustfile()
    assert shipped == ["lab_load", "record", "window"]
    copied = (images.ROOT / "dockerfiles" / "python.Dockerfile").read_text()
    mounted = (images.ROOT / "stacks" / "common" / "load.yml").read_text()  # every stack's user and workers
    for name in shipped:
        assert f"bench/load/{name}.py" in copied.split("COPY bench/load/locustfile.py")[1].splitlines()[0], name
        assert f'"../../bench/load/{name}.py:/bench/{name}.py:ro"' in mounted, name


def test_the_python_image_is_tagged_by_what_it_holds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another checkout retagging bench/python:latest on the same engine must not change what a run runs."""
    beside = [f"bench/load/{name}.py" for name in ("locustfile", "record", "lab_load", "window")]
    for name in ("dockerfiles/python.Dockerfile", *beside, "apps/users.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    monkeypatch.setattr(images, "ROOT", tmp_path)
    first = images.python_tag("base", "wheels")
    assert first.startswith("bench/python:") and first != images.PYTHON_IMAGE
    assert images.python_tag("base", "wheels") == first
    assert images.python_tag("other-base", "wheels") != first != images.python_tag("base", "other-wheels")
    (tmp_path / "apps" / "users.py").write_text("the fault switch")
    assert images.python_tag("base", "wheels") != first


@pytest.mark.parametrize("name", STACKS)
def test_a_run_uses_the_compose_file_without_healthchecks_and_runs_them_itself(name: str, tmp_path: Path) -> None:
    stack = STACKS[name]
    path, checks = run_file(stack, tmp_path)
    services = yaml.safe_load(path.read_text())["services"]
    assert not [name for name, service in services.items() if "healthcheck" in service]  # none during the loads
    assert all(isinstance(s.get("depends_on", []), list) for s in services.values())  # start order only
    original = yaml.safe_load((stack.path / stack.compose.file).read_text())["services"]
    assert set(checks) == {name for name, service in original.items() if "healthcheck" in service}
    assert all(probe_argv(test) for test in checks.values())  # each one runs as `docker exec` argv


def test_healthcheck_tests_become_exec_argv() -> None:
    assert probe_argv(["CMD", "python", "-c", "pass"]) == ["python", "-c", "pass"]
    assert probe_argv(["CMD-SHELL", "exit 0"]) == ["sh", "-c", "exit 0"]
    assert probe_argv("exit 0") == ["sh", "-c", "exit 0"]
    assert probe_argv(["NONE"]) is None
