"""The swarm backend's pure parts: every stack's compose file rendered into a swarm stack file, the
override data, compose's variable syntax, and the flags that only swarm honours."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.backends.swarm import render, swarm_context, tasks
from bench.errors import ConfigError, StackFailed
from bench.scenarios import SCENARIOS
from bench.stacks.catalog import ROOT, discover, fill
from bench.stacks.variants import variants
from tests.unit.test_scenarios import values

STACKS = discover(hidden=True)  # the floor is deployed under swarm too


def _env(work: Path) -> dict[str, str]:
    return {"BENCH_UID": "4321", "BENCH_GID": "4321", "BENCH_OUT": str(work / "load"), "BENCH_CONFIG_DIR": str(work),
            "BENCH_STACK_CPUSET": "0", "BENCH_USER_CPUSET": "1", "BENCH_PYTHON_IMAGE": "bench/python:latest",
            "BENCH_NGINX_IMAGE": "bench/nginx:latest", "BENCH_MASTER_HOST": "s-master"}  # fmt: skip


def _plan(name: str, tmp_path: Path, replicas: int = 2, **choices: Any) -> render.Plan:
    """A stack's plan with its configs rendered into tmp_path, as a bring-up does."""
    stack = STACKS[name]
    data = render.swarm_data(stack)
    context = swarm_context(stack, data, {})
    for template in stack.templates:
        (tmp_path / Path(template).name).write_text(fill((stack.path / template).read_text(), context))
    return render.plan(stack, _env(tmp_path), data, render.Choices(replicas, **choices))


SUPPORTED = [name for name, stack in STACKS.items() if not render.swarm_data(stack).unsupported]


def test_only_the_gateway_says_it_cannot_run_under_swarm() -> None:
    assert set(STACKS) - set(SUPPORTED) == {"gateway"}
    assert "--backend compose or local" in render.swarm_data(STACKS["gateway"]).unsupported


@pytest.mark.parametrize("name", SUPPORTED)
def test_every_stack_renders_to_a_swarm_stack_file(name: str, tmp_path: Path) -> None:
    plan = _plan(name, tmp_path)
    doc = yaml.safe_load(plan.text())
    assert doc["version"] == "3.8"  # explicit: an older client refuses a stack file without one
    assert doc["networks"] == {"net": {"driver": "overlay", "attachable": True}}
    assert "user" not in doc["services"]  # the master runs with `docker run` on this node
    for service, spec in doc["services"].items():
        assert not {"cpuset", "mem_limit", "ports", "network_mode", "build", "depends_on"} & set(spec), service
        deploy = spec["deploy"]
        assert deploy["endpoint_mode"] == "dnsrr" and spec["networks"] == ["net"], service
        assert deploy["restart_policy"] == {"condition": "none"}
        assert deploy["resources"]["limits"] == {"cpus": "1.0", "memory": "1g" if service == "worker" else "512m"}
        assert deploy["replicas"] == (0 if service == "worker" else 2 if service == "app" else 1), service
        for mount in spec.get("configs", []):  # every bind-mounted file travels as a swarm config
            assert Path(doc["configs"][mount["source"]]["file"]).is_file()
    worker = doc["services"]["worker"]
    assert worker["environment"]["LAB_LOAD_SHIP"] == "1" and worker["user"] == "4321:4321"
    shipped = ("locustfile", "record", "lab_load", "window")
    assert {c["target"] for c in worker["configs"]} == {f"/bench/{name}.py" for name in shipped}
    assert plan.master.files == {str(ROOT / f"bench/load/{name}.py"): f"/bench/{name}.py" for name in shipped}
    assert plan.master.environment["LAB_LOAD_SHIP"] == "1" and plan.master.cpus == 1.0
    assert sorted(s for level in plan.levels for s in level) == sorted(doc["services"])


def test_depends_on_becomes_the_deploy_order(tmp_path: Path) -> None:
    assert _plan("flask_gunicorn_nginx", tmp_path).levels == [["app", "worker"], ["proxy"]]
    assert _plan("fastapi_istio", tmp_path).levels == [["app", "worker"], ["sidecar"]]


def test_the_envoy_sidecar_becomes_a_service_in_front_of_every_app_replica(tmp_path: Path) -> None:
    plan = _plan("fastapi_istio", tmp_path, replicas=3)
    assert plan.replicas == {"app": 3, "sidecar": 1, "worker": 0}
    assert plan.dropped["sidecar.network_mode"].startswith("swarm cannot share a network namespace")
    envoy = yaml.safe_load((tmp_path / "envoy.yaml").read_text())
    (cluster,) = envoy["static_resources"]["clusters"]
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (cluster["type"], address["address"], address["port_value"]) == ("STRICT_DNS", "app", 5000)
    assert envoy["admin"]["address"]["socket_address"]["address"] == "0.0.0.0"  # reached from the overlay
    data = render.swarm_data(STACKS["fastapi_istio"])
    assert data.target_service == "sidecar" and "gateway" in data.note


def test_node_labels_place_the_stack_and_the_workers(tmp_path: Path) -> None:
    stack_on, load_on = ("node.labels.bench.role == stack",), ("node.labels.bench.role == load",)
    doc = _plan("flask_gunicorn", tmp_path, stack_constraints=stack_on, load_constraints=load_on).document
    assert doc["services"]["app"]["deploy"]["placement"] == {"constraints": list(stack_on)}
    assert doc["services"]["worker"]["deploy"]["placement"] == {"constraints": list(load_on)}


def test_the_file_is_final_so_every_dollar_is_escaped_for_docker(tmp_path: Path) -> None:
    worker = _plan("flask", tmp_path).document["services"]["worker"]
    script = worker["command"][2]
    assert "$$(seq 300)" in script and "--master-host $$0" in script and worker["command"][3] == "s-master"


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client")
def test_docker_reads_the_stack_file_as_written(tmp_path: Path) -> None:
    """`docker stack config` (the client's own compose loader, no engine needed) gives back the commands."""
    plan = _plan("flask_gunicorn_nginx", tmp_path)
    (tmp_path / "stack.yml").write_text(plan.text())
    done = subprocess.run(["docker", "stack", "config", "-c", str(tmp_path / "stack.yml")], capture_output=True,
                          text=True, env={"PATH": "/usr/local/bin:/usr/bin:/bin"})  # fmt: skip
    if "unknown command" in done.stderr or "is not a docker command" in done.stderr:
        pytest.skip("this docker client has no `docker stack config`")
    assert done.returncode == 0, done.stderr
    loaded = yaml.safe_load(done.stdout)
    assert "for i in $(seq 300)" in loaded["services"]["worker"]["command"][2]  # unescaped once, by docker
    assert loaded["services"]["proxy"]["deploy"]["endpoint_mode"] == "dnsrr"


def test_compose_variables_are_filled_as_compose_does() -> None:
    env = {"SET": "x", "EMPTY": ""}
    given = ["${SET}", "${UNSET:-d}", "${EMPTY:-d}", "${EMPTY-d}", "${UNSET-d}", "$SET", "$$0", "${UNSET}"]
    assert render.interpolate(given, env) == ["x", "d", "d", "", "d", "x", "$0", ""]


def test_a_compose_key_without_a_swarm_translation_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    shutil.copytree(STACKS["flask"].path, folder)
    text = (folder / "docker-compose.yml").read_text()
    (folder / "docker-compose.yml").write_text(text.replace("  app:\n", "  app:\n    privileged: true\n", 1))
    (tmp_path / "common").symlink_to(ROOT / "stacks" / "common")
    from bench.stacks.catalog import load_stack

    with pytest.raises(ConfigError, match="compose key 'privileged' has no swarm translation"):
        render.plan(load_stack(folder / "stack.toml"), _env(tmp_path), render.swarm_data(STACKS["flask"]),
                    render.Choices())  # fmt: skip


def test_an_unknown_key_in_a_swarm_override_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "flask"
    shutil.copytree(STACKS["flask"].path, folder)
    (folder / "swarm.toml").write_text('replicas = 3\n')
    from bench.stacks.catalog import load_stack

    with pytest.raises(ConfigError, match=r"flask/swarm.toml: unknown key 'replicas'"):
        render.swarm_data(load_stack(folder / "stack.toml"))


def test_replicas_and_an_existing_swarm_are_refused_off_swarm() -> None:
    measure = next(s for s in SCENARIOS if s.command == "stack")
    for flag, value in (("replicas", "2"), ("existing_swarm", True)):
        with pytest.raises(ConfigError, match="applies to --backend swarm only") as exc:
            measure.configure(values(measure, backend="compose", **{flag: value}))
        assert exc.value.tip == "add --backend swarm, or leave it out"
    placement = values(measure, backend="swarm", replicas="2").placement
    assert (placement.replicas, placement.settings()["replicas"]) == (2, 2)
    assert "replicas" not in values(measure, backend="local").placement.settings()


def test_a_row_sets_its_own_replicas_and_they_are_interleaved_like_parameters() -> None:
    gunicorn = STACKS["flask_gunicorn"]
    rows = variants([(gunicorn, "flask_gunicorn")], ["replicas=1,2"])
    assert [(v.label, v.replicas, dict(v.params)) for v in rows] == [
        ("flask_gunicorn@replicas=1", 1, {}), ("flask_gunicorn@replicas=2", 2, {})]  # fmt: skip
    (tagged,) = variants([(gunicorn, "flask_gunicorn@replicas=3,workers=2")])
    assert (tagged.replicas, dict(tagged.params)) == (3, {"workers": "2"})
    with pytest.raises(ConfigError, match="replicas='0' is not a whole number of at least 1"):
        variants([(gunicorn, "flask_gunicorn@replicas=0")])
    measure = next(s for s in SCENARIOS if s.command == "stack")
    with pytest.raises(ConfigError, match="flask_gunicorn@replicas=2: replicas apply to --backend swarm only"):
        measure.configure(values(measure, names=["flask_gunicorn@replicas=2"], backend="local"))
    config = measure.configure(values(measure, names=["flask_gunicorn@replicas=2"], backend="swarm"))
    assert [v.replicas for v in config.variants] == [2]


def test_a_swarm_is_joined_only_when_asked_and_initialised_only_while_no_compose_run_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The decisions before anything touches the engine (the real refusal runs in tests/integration/test_swarm.py)."""
    import bench.backends.swarm as swarm
    from bench.backends.swarm import engine
    from bench.errors import BenchError

    def state(name: str, manager: bool = True) -> None:
        monkeypatch.setattr(engine, "engine", lambda: engine.Engine(name, manager, "n1", "vm", 2))

    def never() -> engine.OwnSwarm:
        raise AssertionError("a swarm was initialised")

    monkeypatch.setattr(engine.OwnSwarm, "init", classmethod(lambda cls: never()))
    state("active")
    with pytest.raises(ConfigError, match="already a swarm member") as exc:
        swarm.SwarmBackend()._enter(existing=False)
    assert exc.value.tip is not None and "--existing-swarm" in exc.value.tip
    joined = swarm.SwarmBackend()
    assert joined._enter(existing=True) is None and str(joined._scope).startswith("existing swarm")
    state("active", manager=False)
    with pytest.raises(ConfigError, match="is a swarm worker"):
        swarm.SwarmBackend()._enter(existing=True)
    state("inactive")
    with pytest.raises(ConfigError, match="not in a swarm"):
        swarm.SwarmBackend()._enter(existing=True)
    monkeypatch.setattr(engine, "compose_containers", lambda: ["web_1 (bench-x-1)", "db_1 (bench-x-1)"])
    with pytest.raises(BenchError, match=r"while 2 compose container\(s\) are up, of bench-x-1;") as refused:
        swarm.SwarmBackend()._enter(existing=False)
    assert refused.value.tip is not None and refused.value.tip.startswith("wait until that compose run ends")


class _Engine(tasks.Deployed):
    """A deployed stack whose engine answers from a script of task lists, one per poll: the retry's
    logic, tested without waiting for moby/moby#48783 to strike."""

    def __init__(self, script: list[list[tasks.Task]]) -> None:  # no SDK client: nothing reaches an engine
        self.name, self.script = "bench-x", script

    def tasks(self, fresh: bool = False) -> list[tasks.Task]:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def log_tail(self, services: list[str] | None = None, lines: int = 20) -> str:
        return ""


BUSY = "starting container failed: unable to remount dir as readonly: mount tmpfs: device or resource busy"


def test_a_task_the_engine_failed_to_start_is_started_again_and_other_failures_are_not(
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(tasks, "docker", lambda *args, **_: calls.append(args))
    monkeypatch.setattr(tasks.time, "sleep", lambda _: None)
    failed, old = tasks.Task("app", 1, "vm", "failed", BUSY, "t1"), tasks.Task("app", 2, "vm", "shutdown", "", "t2")
    fresh = [tasks.Task("app", 1, "vm", "running", "", "t3"), tasks.Task("app", 2, "vm", "running", "", "t4")]
    engine = _Engine([[failed, tasks.Task("app", 2, "vm", "running", "", "t2")], [failed, old], fresh])
    engine.wait_running(["app"], {"app": 2}, timeout=5)
    assert calls == [("service", "update", "--force", "--detach", "bench-x_app")]
    broken = tasks.Task("app", 1, "vm", "failed", "starting container failed: exec: no such file", "t5")
    with pytest.raises(StackFailed, match=r"task app\.1 on vm failed: starting container failed: exec"):
        _Engine([[broken]]).wait_running(["app"], {"app": 1}, timeout=5)
    always = [[tasks.Task("app", 1, "vm", "failed", BUSY, f"id{i}")] for i in range(5)]
    with pytest.raises(StackFailed, match="remount dir as readonly"):  # retried START_RETRIES times, then said
        _Engine(always).wait_running(["app"], {"app": 1}, timeout=5)
    assert len(calls) == 1 + tasks.START_RETRIES


def test_the_workers_run_the_masters_locustfiles_or_the_stack_is_refused(tmp_path: Path) -> None:
    """A locust worker without a user class the master spawns never reports: the load hung until the runner
    gave up ("locust did not stop within 60 s"). So the workers' -f is the master's, and a worker command that
    does not name the lab's locustfile (which the user's goes beside) is an error, not left as it was."""
    files = "/bench/locustfile.py,/userload/mine.py"
    plan = _plan("flask_gunicorn", tmp_path, locustfiles=files)
    command = plan.document["services"]["worker"]["command"]
    assert f"exec python -m locust -f {files} --worker --master-host" in command[2]
    wrong = re.escape("the worker service's command must run `locust -f /bench/locustfile.py")
    with pytest.raises(ConfigError, match=wrong):
        render._worker_files(["python", "-m", "locust", "--worker"], files, Path("docker-compose.yml"))
